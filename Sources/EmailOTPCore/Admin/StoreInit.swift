import EmailOTPCrypto
import EmailOTPStore
import EmailOTPSystem

/// The schema `emailotp store-init` creates or upgrades. The module runs no DDL.
package enum PostgresSchema {
    package static var version: Int { PostgresStore.schemaVersion }

    static let tables = [
        "CREATE TABLE IF NOT EXISTS emailotp_meta (name text PRIMARY KEY, value text NOT NULL)",
        "CREATE TABLE IF NOT EXISTS emailotp_key (id integer PRIMARY KEY CHECK (id = 1), key text NOT NULL CHECK (key ~ '^[0-9a-f]{64}$'))",
        "CREATE TABLE IF NOT EXISTS emailotp_tokens (user_name text PRIMARY KEY, record text NOT NULL, updated timestamptz NOT NULL DEFAULT now())",
    ]

    /// What `store-init` found and did.
    package struct Outcome {
        package var previousVersion: Int?
        package var keyCreated: Bool
        package var database: String
        package var schema: String
    }

    /// Creates the tables and the fleet's code key when missing, in one transaction.
    package static func initialise(_ store: PostgresStore, random: RandomSource) throws -> Outcome {
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
    package static func grants(role: String, database: String, schema: String) -> [String] {
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
