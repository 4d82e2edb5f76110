/// The fleet store: one PostgreSQL database shared by many hosts (emailotp.conf(5), store). A user's record
/// is one row holding the same versioned text as a file-store record (`RecordFormat`), so
/// fields added to the record need no schema change. Schema: `PostgresSchema`, docs/DESIGN.md.
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

    /// Advisory-lock class (`EOTP`) for users without a row, which `FOR UPDATE` cannot lock.
    static let absentUserLockClass = 0x454F_5450

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
        guard version == String(PostgresSchema.version) else {
            throw StoreError.unsafe("the database holds schema version \(version ?? "none"), this module needs \(PostgresSchema.version): run emailotp store-init")
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
    func session() throws -> PostgresConnection {
        try first { $0 }
    }
}

/// The schema `emailotp store-init` creates or upgrades. The module runs no DDL.
public enum PostgresSchema {
    public static let version = 1

    static let tables = [
        "CREATE TABLE IF NOT EXISTS emailotp_meta (name text PRIMARY KEY, value text NOT NULL)",
        "CREATE TABLE IF NOT EXISTS emailotp_key (id integer PRIMARY KEY CHECK (id = 1), key text NOT NULL CHECK (key ~ '^[0-9a-f]{64}$'))",
        "CREATE TABLE IF NOT EXISTS emailotp_tokens (user_name text PRIMARY KEY, record text NOT NULL, updated timestamptz NOT NULL DEFAULT now())",
    ]

    /// What `store-init` found and did.
    public struct Outcome {
        public var previousVersion: Int?
        public var keyCreated: Bool
        public var database: String
        public var schema: String
    }

    /// Creates the tables and the fleet's code key when missing, in one transaction.
    public static func initialise(_ store: PostgresStore, random: RandomSource) throws -> Outcome {
        let db = try store.session()
        try db.begin()
        do {
            // One store-init at a time; a concurrent one waits, then finds everything made.
            try db.execute("SELECT pg_advisory_xact_lock(\(PostgresStore.absentUserLockClass), 0)")
            let exists = try db.execute("SELECT to_regclass('emailotp_meta') IS NOT NULL").first?.first ?? nil
            var previous: Int? = nil
            if exists == "t" {
                let found = try db.execute("SELECT value FROM emailotp_meta WHERE name = 'schema_version'").first?.first ?? nil
                previous = found.flatMap { Int($0) }
                if let old = previous, old > version {
                    throw StoreError.unsafe("the database holds schema version \(old), newer than this emailotp (\(version))")
                }
            }
            for statement in tables { try db.execute(statement) }
            try db.execute("INSERT INTO emailotp_meta (name, value) VALUES ('schema_version', $1) "
                           + "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value", [String(version)])
            let made = try db.execute("INSERT INTO emailotp_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING RETURNING 1",
                                      [Hex.encode(try random.bytes(32))])
            let names = try db.execute("SELECT current_database(), current_schema()")
            try db.commit()
            return Outcome(previousVersion: previous, keyCreated: !made.isEmpty,
                           database: names.first?.first.flatMap { $0 } ?? "", schema: names.first?.last.flatMap { $0 } ?? "public")
        } catch {
            if db.isOpen, (try? db.execute("ROLLBACK")) == nil { db.close() }
            throw error
        }
    }

    /// The statements that give a role exactly the rights the module needs.
    public static func grants(role: String, database: String, schema: String) -> [String] {
        let r = quoted(role), s = quoted(schema)
        return [
            "GRANT CONNECT ON DATABASE \(quoted(database)) TO \(r);",
            "GRANT USAGE ON SCHEMA \(s) TO \(r);",
            "GRANT SELECT ON \(s).emailotp_meta, \(s).emailotp_key TO \(r);",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON \(s).emailotp_tokens TO \(r);",
        ]
    }

    /// An SQL identifier, quoted.
    static func quoted(_ name: String) -> String {
        "\"" + name.replacingDoubleQuotes() + "\""
    }
}

extension String {
    /// Every `"` doubled, found as a byte: `"` followed by a combining mark is one Character
    /// that is not `"`, and must be doubled all the same or it would end the identifier.
    fileprivate func replacingDoubleQuotes() -> String {
        var out = [UInt8]()
        for byte in utf8 {
            out.append(byte)
            if byte == ByteText.quote { out.append(byte) }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
