import EmailOTPToken

/// Where tokens and challenges live. The flows see only this protocol, so another backend
/// (a database shared by a fleet) can replace the file store without touching them.
public protocol TokenStore {
    /// The user's record, or nil when the user has no token. Reads without locking.
    func read(user: String) throws -> TokenRecord?

    /// One transaction on the user's record: `body` runs exactly once, while the store holds
    /// the user's lock from the read to the write (a user without a record is locked too), so
    /// nothing else can change the record in between. The record as `body` leaves it is
    /// written (nil deletes it); an unchanged record is not rewritten; when `body` throws,
    /// nothing is written. `now` is the store's time, read once the lock is held: the
    /// injected clock for the file store, the database's clock for the PostgreSQL store, so
    /// that every host of a fleet takes time decisions on one clock.
    func update<T>(user: String, _ body: (inout TokenRecord?, _ now: Int64) throws -> T) throws -> T

    /// The users that have a record.
    func users() throws -> [String]

    /// The secret key of the code hashes: per host for the file store (made on first use),
    /// shared by the fleet for the PostgreSQL store (made by `emailotp store-init`).
    func codeKey() throws -> [UInt8]
}

extension TokenStore {
    /// A transaction whose body takes no time decision.
    public func update<T>(user: String, _ body: (inout TokenRecord?) throws -> T) throws -> T {
        try update(user: user) { record, _ in try body(&record) }
    }
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
