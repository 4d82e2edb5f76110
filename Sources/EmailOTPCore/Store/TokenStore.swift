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

    /// One attempt at an answer (charge before check): what `charge` leaves is written durably
    /// before `settle` runs, so that an answer is never compared unless its failure is already
    /// on disk. When the charge cannot be written, this throws and `settle` never runs. `settle`
    /// gets the record as it is then and the charged record, and what it leaves is written like
    /// an `update`. The file store runs both under one hold of the user's lock; the default
    /// commits the charge in one transaction and settles in another, where the record may have
    /// changed in between (`settle` sees that it differs from `charged`); the PostgreSQL store
    /// holds the user between its two transactions with a lease, so that only a lease that ran
    /// out lets anything in.
    func attempt<T>(user: String, charge: (inout TokenRecord?, _ now: Int64) throws -> Void,
                    settle: (inout TokenRecord?, _ charged: TokenRecord?, _ now: Int64) throws -> T) throws -> T

    /// The users that have a record.
    func users() throws -> [String]

    /// The secret key of the code hashes: per host for the file store (made on first use),
    /// shared by the fleet for the PostgreSQL store (made by `emailotp store-init`).
    func codeKey() throws -> [UInt8]
}

extension TokenStore {
    public func attempt<T>(user: String, charge: (inout TokenRecord?, _ now: Int64) throws -> Void,
                           settle: (inout TokenRecord?, _ charged: TokenRecord?, _ now: Int64) throws -> T) throws -> T {
        let charged: TokenRecord? = try update(user: user) { record, now in
            try charge(&record, now)
            return record
        }
        return try update(user: user) { record, now in try settle(&record, charged, now) }
    }

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
    /// A lock another process held past `store_timeout`.
    case busy(String)

    public var description: String {
        switch self {
        case .corrupt(_, let path, let detail): return "\(path): corrupt record (\(detail))"
        case .unsafe(let detail): return "unsafe store: \(detail)"
        case .io(let detail): return detail
        case .busy(let detail): return "store busy: \(detail)"
        }
    }
}
