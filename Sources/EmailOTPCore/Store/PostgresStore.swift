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
        let rows = try transaction { try $0.execute("SELECT record FROM emailotp_tokens WHERE user_name = $1", [user]) }
        return try rows.first.map { try parse($0.first ?? nil, user: user) }
    }

    public func update<T>(user: String, _ body: (inout TokenRecord?, _ now: Int64) throws -> T) throws -> T {
        _ = try UserName.encode(user)
        let db = try first { db -> PostgresConnection in
            try db.begin()
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
            try db.commit()
            return result
        } catch {
            if db.isOpen, (try? db.execute("ROLLBACK")) == nil { db.close() }
            throw error
        }
    }

    public func users() throws -> [String] {
        try transaction { try $0.execute("SELECT user_name FROM emailotp_tokens ORDER BY user_name") }.compactMap { $0.first ?? nil }
    }

    public func codeKey() throws -> [UInt8] {
        if let key = key { return key }
        let rows = try transaction {
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

    /// What the server says of its replication, for `emailotp config-check`: one line each,
    /// a note where a failover could lose answers (docs/fleet.md, replication).
    public func replicationReport() throws -> [String] {
        let rows = try transaction {
            try $0.execute("SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names'), "
                           + "current_setting('synchronous_commit'), (SELECT count(*) FROM pg_stat_replication)")
        }
        guard let row = rows.first, row.count == 4 else { return [] }
        let standby = row[0] == "t", names = row[1] ?? "", commit = row[2] ?? "", streaming = Int(row[3] ?? "") ?? 0
        if standby {
            return ["warning: the store's server is a standby (read-only): every login fails until it is promoted; "
                    + "list the primary's address too and add target_session_attrs=read-write to the store URI"]
        }
        if names.isEmpty {
            if streaming == 0 {
                return ["note: no standby replicates the store's server: losing it loses the store (docs/fleet.md)"]
            }
            return ["note: asynchronous replication: \(streaming) standby(s) stream from the store's server but "
                    + "synchronous_standby_names is empty; a failover can lose the last answers: a code already "
                    + "accepted is accepted again and recent failures are forgotten (docs/fleet.md)"]
        }
        switch commit {
        case "off", "local":
            return ["note: synchronous_commit = \(commit): commits do not wait for the synchronous standby "
                    + "(\(names)); a failover can lose the last answers (docs/fleet.md)"]
        default:
            var lines = ["database replication: synchronous (synchronous_standby_names = '\(names)', "
                         + "synchronous_commit = \(commit)): an accepted code and a counted failure survive a failover to that standby"]
            if streaming == 0 {
                lines.append("warning: no standby is connected: every write waits for one, so logins fail closed (store_timeout)")
            }
            return lines
        }
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

    /// One read-only statement in its own transaction, so that the timeouts `begin` sets
    /// bound it too.
    func transaction<T>(_ step: (PostgresConnection) throws -> T) throws -> T {
        let db = try first { db -> PostgresConnection in
            try db.begin()
            return db
        }
        do {
            let result = try step(db)
            try db.commit()
            return result
        } catch {
            if db.isOpen, (try? db.execute("ROLLBACK")) == nil { db.close() }
            throw error
        }
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
