import EmailOTPSystem
import EmailOTPToken

/// The fleet store: one PostgreSQL database shared by many hosts (emailotp.conf(5), store). A user's record
/// is one row holding the same versioned text as a file-store record (`RecordFormat`), so
/// fields added to the record need no schema change. Schema: `PostgresSchema` (store-init, in the admin code), docs/DESIGN.md.
public final class PostgresStore: TokenStore {
    public let uri: String
    let password: String
    let timeout: Int64
    private var connection: PostgresConnection?
    private var key: [UInt8]?

    /// Nothing is loaded or connected until the first call.
    public init(uri: String, password: String, timeout: Int64) {
        self.uri = uri
        self.password = password
        self.timeout = timeout
    }

    /// The schema version this module reads; `emailotp store-init` creates or upgrades to it.
    public static let schemaVersion = 1
    /// Advisory-lock class (`EOTP`) for users without a row, which `FOR UPDATE` cannot lock.
    package static let absentUserLockClass = 0x454F_5450

    public func read(user: String) throws -> TokenRecord? {
        _ = try UserName.encode(user)
        let rows = try first { try $0.execute("SELECT record FROM emailotp_tokens WHERE user_name = $1", [user]) }
        return try rows.first.map { try parse($0.first ?? nil, user: user) }
    }

    public func update<T>(user: String, _ body: (inout TokenRecord?, _ now: Int64) throws -> T) throws -> T {
        _ = try UserName.encode(user)
        let db = try first { db -> PostgresConnection in
            try db.execute("BEGIN")
            return db
        }
        do {
            let select = "SELECT record FROM emailotp_tokens WHERE user_name = $1 FOR UPDATE"
            var rows = try db.execute(select, [user])
            if rows.isEmpty {
                // Two hosts creating one user's record wait for each other here.
                try db.execute("SELECT pg_advisory_xact_lock(\(Self.absentUserLockClass), hashtext($1))", [user])
                rows = try db.execute(select, [user])
            }
            let before = try rows.first.map { try parse($0.first ?? nil, user: user) }
            // Read once the lock is held: a wait for the lock must not age the decisions.
            let clock = try db.execute("SELECT floor(extract(epoch FROM clock_timestamp()))::bigint")
            guard let text = clock.first?.first ?? nil, let now = Int64(text) else {
                throw StoreError.io("PostgreSQL store: the database did not tell its time")
            }
            var record = before
            let result = try body(&record, now)
            if record != before {
                if let record = record {
                    let text = RecordFormat.render(record)
                    if before == nil {
                        let made = try db.execute("INSERT INTO emailotp_tokens (user_name, record, updated) VALUES ($1, $2, now()) "
                                                  + "ON CONFLICT (user_name) DO NOTHING RETURNING 1", [user, text])
                        guard !made.isEmpty else { throw StoreError.io("PostgreSQL store: the record of \(LogText.printable(user)) appeared meanwhile") }
                    } else {
                        try db.execute("UPDATE emailotp_tokens SET record = $2, updated = now() WHERE user_name = $1", [user, text])
                    }
                } else {
                    try db.execute("DELETE FROM emailotp_tokens WHERE user_name = $1", [user])
                }
            }
            try db.execute("COMMIT")
            return result
        } catch {
            if db.isOpen, (try? db.execute("ROLLBACK")) == nil { db.close() }
            throw error
        }
    }

    public func users() throws -> [String] {
        try first { try $0.execute("SELECT user_name FROM emailotp_tokens ORDER BY user_name") }.compactMap { $0.first ?? nil }
    }

    public func codeKey() throws -> [UInt8] {
        if let key = key { return key }
        let rows = try first {
            try $0.execute("SELECT (SELECT value FROM emailotp_meta WHERE name = 'schema_version'), (SELECT key FROM emailotp_key WHERE id = 1)")
        }
        let version = rows.first?.first ?? nil
        guard version == String(PostgresStore.schemaVersion) else {
            throw StoreError.unsafe("the database holds schema version \(version ?? "none"), this module needs \(PostgresStore.schemaVersion): run emailotp store-init")
        }
        guard let hex = rows.first?.last ?? nil, hex.utf8.count == 64, let found = Hex.decode(hex) else {
            throw StoreError.unsafe("the database holds no 256-bit code key: run emailotp store-init")
        }
        key = found
        return found
    }

    /// Runs the first statement of an operation. A connection that died while idle (a
    /// failover between the PIN and the code prompt) is replaced once: nothing ran yet.
    func first<T>(_ step: (PostgresConnection) throws -> T) throws -> T {
        if let db = connection, db.isOpen {
            do {
                return try step(db)
            } catch {
                guard !db.isOpen else { throw error }
            }
        }
        connection = nil
        let db = try PostgresConnection(uri: uri, password: password, timeout: timeout)
        connection = db
        return try step(db)
    }

    func parse(_ text: String?, user: String) throws -> TokenRecord {
        do {
            return try RecordFormat.parse(text ?? "", expectedUser: user)
        } catch let error as CorruptRecord {
            throw StoreError.corrupt(user: user, path: "emailotp_tokens[\(LogText.printable(user))]", error)
        }
    }

    /// The connection, opened when needed; for `emailotp store-init` and `migrate`.
    package func session() throws -> PostgresConnection {
        try first { $0 }
    }
}
