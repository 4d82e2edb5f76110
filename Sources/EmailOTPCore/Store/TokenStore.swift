/// Where tokens and challenges live. The flows see only this protocol, so another backend
/// (a database shared by a fleet) can replace the file store without touching them.
public protocol TokenStore {
    /// The user's record, or nil when the user has no token. Reads without locking.
    func read(user: String) throws -> TokenRecord?

    /// Runs `body` on the user's record while holding the user's lock, from the read to the
    /// write: nothing else can change the record in between. The record as `body` leaves it
    /// is written (nil deletes it); an unchanged record is not rewritten. When the user has no
    /// record, `body` may run twice (once without the lock): it must depend on the record alone.
    func update<T>(user: String, _ body: (inout TokenRecord?) throws -> T) throws -> T

    /// The users that have a record.
    func users() throws -> [String]

    /// The per-host secret key of the code hashes; made on first use.
    func codeKey() throws -> [UInt8]
}

/// A store failure that must fail closed.
public enum StoreError: Error, CustomStringConvertible {
    case corrupt(user: String, path: String, CorruptRecord)
    case unsafe(String)
    case io(String)

    public var description: String {
        switch self {
        case .corrupt(_, let path, let detail): return "\(path): corrupt record (\(detail))"
        case .unsafe(let detail): return "unsafe store: \(detail)"
        case .io(let detail): return detail
        }
    }
}
