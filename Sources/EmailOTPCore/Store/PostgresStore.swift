import EmailOTPSystem
import EmailOTPToken

/// The fleet store: one PostgreSQL database shared by many hosts (emailotp.conf(5), store). A user's record
/// is one row holding the same versioned text as a file-store record (`RecordFormat`), so
/// fields added to the record need no schema change. Schema: `PostgresSchema` (store-init, in the admin code), docs/DESIGN.md.
///
/// Every operation connects, runs its transactions and closes (docs/fleet.md, connections): no
/// connection outlives a store call, so none is held while a login waits at a prompt or for a
/// mail server. A login's store (`perLogin`) has one budget of `store_timeout` for the sum of its
/// store work: every connection attempt (each address), every statement and every lock wait
/// get only what is left of it.
public final class PostgresStore: TokenStore {
    public let uri: String
    let password: String
    let timeout: Int64
    /// What is left of a login's `store_timeout`; nil for the admin command (each statement
    /// then gets `store_timeout`).
    private let budget: StoreBudget?
    /// The connection `session()` keeps for store-init and migrate.
    private var held: PostgresConnection?
    private var key: [UInt8]?

    /// Nothing is loaded or connected until the first call.
    public init(uri: String, password: String, timeout: Int64, perLogin: Bool = false) {
        self.uri = uri
        self.password = password
        self.timeout = timeout
        self.budget = perLogin ? StoreBudget(milliseconds: timeout * 1000) : nil
    }

    /// The schema version this module reads; `emailotp store-init` creates or upgrades to it.
    public static let schemaVersion = 1
    /// Advisory-lock class (`EOTP`) for users without a row, which `FOR UPDATE` cannot lock.
    package static let absentUserLockClass = 0x454F_5450

    /// Reads the code key in the same transaction when it is not known yet: a login's first
    /// step is a read, and its next needs the key, so one connection serves both.
    public func read(user: String) throws -> TokenRecord? {
        _ = try UserName.encode(user)
        let known = key != nil
        let (rows, keyRows) = try transaction { db in
            (try db.execute("SELECT record FROM emailotp_tokens WHERE user_name = $1", [user]),
             known ? nil : try db.execute(Self.keyQuery))
        }
        if let found = keyRows { key = try? Self.decodeKey(found) }
        return try rows.first.map { try parse($0.first ?? nil, user: user) }
    }

    public func update<T>(user: String, _ body: (inout TokenRecord?, _ now: Int64) throws -> T) throws -> T {
        _ = try UserName.encode(user)
        return try connected { link in try update(link, user: user, body) }
    }

    /// Charge and settle on one connection, closed before the caller goes on; when the
    /// connection died after the charge's COMMIT (a failover, `pg_terminate_backend`), the
    /// settle runs on a new one. The charge's transaction also reads the code key when this
    /// store does not know it yet, so that `codeKey()` in `charge` answers from it.
    ///
    /// The two transactions act as one hold of the user, as the file store's one lock does:
    /// the charge writes a lease into the row's `updated` column (a time in the future: until
    /// when this answer holds the user, what is left of the login's store_timeout), the settle
    /// clears it, and every other transaction on the row (`update`, another host's answer)
    /// that finds a live lease waits for it to end. So every answer's outcome is one that a
    /// serial order of the answers gives. The lease is data, not a session lock, so that it
    /// holds through a pooler in transaction mode (PgBouncer hands the server connection to
    /// other clients between the two transactions), and a process stopped or killed between
    /// them holds the user no longer than its own deadline.
    public func attempt<T>(user: String, charge: (inout TokenRecord?, _ now: Int64) throws -> Void,
                           settle: (inout TokenRecord?, _ charged: TokenRecord?, _ now: Int64) throws -> T) throws -> T {
        _ = try UserName.encode(user)
        return try connected { link in
            let (charged, lease): (TokenRecord?, String?) = try update(link, user: user, lease: .take) { record, now in
                try charge(&record, now)
                return record
            }
            return try update(link, user: user, lease: .release(lease)) { record, now in try settle(&record, charged, now) }.0
        }
    }

    /// What a transaction does with the row's lease (`attempt`).
    enum Lease {
        /// Waits while another answer holds the user; leaves the lease column alone.
        case wait
        /// Waits like `.wait`, then writes a lease of its own (the charge).
        case take
        /// Clears the lease `take` wrote (its id; nil when the charge left no row); waits for
        /// another answer's lease like `.wait`.
        case release(String?)
    }

    static func isAnswer(_ lease: Lease) -> Bool {
        if case .wait = lease { return false }
        return true
    }

    /// A lease counts only while it ends in the future and within the longest store_timeout,
    /// so that a database clock stepped back cannot make a row look held for long.
    static let leaseColumns = "updated > clock_timestamp() AND updated <= clock_timestamp() + interval '70 seconds', \(leaseID)"
    /// A row's lease as the charge that set it names it (`updated` in microseconds).
    static let leaseID = "(extract(epoch FROM updated) * 1000000)::bigint::text"
    /// The lease written by a charge: `$3` milliseconds from the database's clock.
    static let leaseUntil = "clock_timestamp() + $3::bigint * interval '1 millisecond'"

    private func update<T>(_ link: Link, user: String, _ body: (inout TokenRecord?, _ now: Int64) throws -> T) throws -> T {
        try update(link, user: user, lease: .wait, body).0
    }

    /// One transaction on `user`'s row (`TokenStore.update`), after any other answer's lease
    /// ended (`Lease`); returns the id of the lease it wrote (`.take`).
    private func update<T>(_ link: Link, user: String, lease: Lease,
                           _ body: (inout TokenRecord?, _ now: Int64) throws -> T) throws -> (T, String?) {
        var pause: Int64 = 5
        let waitEnds = Monotonic.milliseconds() + timeout * 1000
        while true {
            let db = try link.begun()
            do {
                let select = "SELECT record, \(Self.leaseColumns) FROM emailotp_tokens WHERE user_name = $1 FOR UPDATE"
                var rows = try db.execute(select, [user])
                if rows.isEmpty, case .wait = lease {
                    // Two hosts creating one user's record wait for each other here. The key is a
                    // hash of the fleet's secret code key and the name, so that pg_locks, which
                    // every database user reads, does not name who tries to log in. An answer's
                    // charge and settle make no record from nothing (a record one made would
                    // meet another's on the primary key and fail closed), so they take no lock
                    // here and send the same statements whether the user has a row or not.
                    try db.execute("SELECT pg_advisory_xact_lock(\(Self.absentUserLockClass), "
                                   + "hashtext((SELECT key FROM emailotp_key WHERE id = 1) || $1))", [user])
                    rows = try db.execute(select, [user])
                }
                let held = rows.first.map { $0.count > 2 && $0[1] == "t" } ?? false
                let heldBy = rows.first.flatMap { $0.count > 2 ? $0[2] : nil }
                var ours = false
                if case .release(let id) = lease, let id = id, id == heldBy { ours = true }
                if held && !ours {
                    // Another answer is between its charge and its settlement: wait for it
                    // outside any transaction (a row lock held while waiting would stop it too).
                    // A login's wait ends with its budget (`begun`), the admin command's here.
                    guard link.deadline != nil || Monotonic.milliseconds() < waitEnds else {
                        throw StoreError.io("PostgreSQL store: the record stayed locked longer than store_timeout "
                                            + "(another answer is being checked)")
                    }
                    try db.execute("ROLLBACK")
                    Deadline(afterMilliseconds: pause).sleepUntilPassed()
                    pause = min(pause * 2, 100)
                    continue
                }
                let stored = rows.first.flatMap { $0.first ?? nil }
                let before = try rows.first.map { try parse($0.first ?? nil, user: user) }
                // Read once the lock is held: a wait for the lock must not age the decisions.
                let clock = try db.execute("SELECT floor(extract(epoch FROM clock_timestamp()))::bigint")
                guard let text = clock.first?.first ?? nil, let now = Int64(text) else {
                    throw StoreError.io("PostgreSQL store: the database did not tell its time")
                }
                if case .take = lease, key == nil {
                    // The charge reads the code key under the row's lock (Flows/Attempt.swift):
                    // when the login's read did not bring it, this transaction does, so that
                    // `codeKey()` needs no second connection there.
                    key = try Self.decodeKey(try db.execute(Self.keyQuery))
                }
                var record = before
                let result = try body(&record, now)
                var written: String? = nil
                if case .take = lease, let record = record {
                    // The charge writes even an unchanged record: the lease must be set.
                    let text = RecordFormat.render(record)
                    let until = String(max(link.deadline.map { $0 - Monotonic.milliseconds() } ?? timeout * 1000, 1))
                    if before == nil {
                        let made = try db.execute("INSERT INTO emailotp_tokens (user_name, record, updated) VALUES ($1, $2, \(Self.leaseUntil)) "
                                                  + "ON CONFLICT (user_name) DO NOTHING RETURNING \(Self.leaseID)",
                                                  [user, text, until])
                        guard let id = made.first?.first ?? nil else { throw StoreError.io("PostgreSQL store: the record of \(LogText.printable(user)) appeared meanwhile") }
                        written = id
                    } else {
                        let set = try db.execute("UPDATE emailotp_tokens SET record = $2, updated = \(Self.leaseUntil) WHERE user_name = $1 "
                                                 + "RETURNING \(Self.leaseID)", [user, text, until])
                        written = set.first?.first ?? nil
                    }
                } else if record != before || ours {
                    // The settlement writes even an unchanged record when it must clear its lease.
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
                } else if before == nil, record == nil, Self.isAnswer(lease) {
                    // No row (no token, no account): the charge and the settle still each make a
                    // commit that writes and flushes WAL (a transaction id of its own) in one
                    // statement where the others write the row, so that an answer costs the same
                    // round trips, commits and waits whether the user has a row or not. No row is
                    // shared, so such answers do not queue behind each other.
                    try db.execute("SELECT txid_current()")
                }
                do {
                    try db.commit()
                } catch let StoreError.io(reason) where db.unconfirmed {
                    guard case .take = lease, let id = written else { throw StoreError.io(reason) }
                    throw StoreError.io(reason + refund(db, user: user, to: stored, lease: id))
                }
                return (result, written)
            } catch {
                if db.isOpen, (try? db.execute("ROLLBACK")) == nil { db.close() }
                throw error
            }
        }
    }

    /// Takes back a charge whose COMMIT was not confirmed (`PostgresConnection.commit`): the
    /// row gets back the text it had before the charge, only while it still holds that
    /// charge's lease (`id`), which no other transaction left in place; so it undoes exactly
    /// that charge, once. Nothing was compared before the charge's COMMIT returned, so nothing
    /// leaks. What the log line adds.
    private func refund(_ db: PostgresConnection, user: String, to stored: String?, lease id: String) -> String {
        let held = "\(Self.leaseID) = $2"
        do {
            let rows = try stored.map {
                try db.undo("UPDATE emailotp_tokens SET record = $3, updated = now() WHERE user_name = $1 AND \(held) RETURNING 1",
                            [user, id, $0])
            } ?? db.undo("DELETE FROM emailotp_tokens WHERE user_name = $1 AND \(held) RETURNING 1", [user, id])
            return rows.isEmpty ? "; its charge was no longer in place" : "; its charge was taken back"
        } catch {
            return "; its charge stays: \(error)"
        }
    }

    public func users() throws -> [String] {
        try transaction { try $0.execute("SELECT user_name FROM emailotp_tokens ORDER BY user_name") }.compactMap { $0.first ?? nil }
    }

    public func codeKey() throws -> [UInt8] {
        if let key = key { return key }
        let found = try Self.decodeKey(try transaction { try $0.execute(Self.keyQuery) })
        key = found
        return found
    }

    static let keyQuery = "SELECT (SELECT value FROM emailotp_meta WHERE name = 'schema_version'), (SELECT key FROM emailotp_key WHERE id = 1)"

    static func decodeKey(_ rows: [[String?]]) throws -> [UInt8] {
        let version = rows.first?.first ?? nil
        guard version == String(PostgresStore.schemaVersion) else {
            throw StoreError.unsafe("the database holds schema version \(version ?? "none"), this module needs \(PostgresStore.schemaVersion): run emailotp store-init")
        }
        guard let hex = rows.first?.last ?? nil, hex.utf8.count == 64, let found = Hex.decode(hex) else {
            throw StoreError.unsafe("the database holds no 256-bit code key: run emailotp store-init")
        }
        return found
    }

    /// What the server says of its replication, for `emailotp config-check`: one line each,
    /// a note where a failover could lose answers (docs/fleet.md, replication).
    public func replicationReport() throws -> [String] {
        let rows = try transaction {
            try $0.execute("SELECT pg_is_in_recovery(), current_setting('synchronous_standby_names'), "
                           + "current_setting('synchronous_commit'), (SELECT count(*) FROM pg_stat_replication), "
                           + "(SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')), "
                           + "(SELECT count(*) FROM pg_stat_replication WHERE sync_state IS NULL)")
        }
        guard let row = rows.first, row.count == 6 else { return [] }
        let standby = row[0] == "t", names = row[1] ?? "", commit = row[2] ?? "", streaming = Int(row[3] ?? "") ?? 0
        let synchronous = Int(row[4] ?? "") ?? 0, hidden = Int(row[5] ?? "") ?? 0
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
            } else if hidden > 0 {
                lines.append("note: this role cannot read pg_stat_replication's sync_state (it needs pg_read_all_stats), "
                             + "so whether a connected standby is synchronous was not checked")
            } else if synchronous == 0 {
                lines = ["warning: no connected standby is synchronous: \(streaming) standby(s) stream but none is named by "
                         + "synchronous_standby_names = '\(names)' (sync_state async or potential); every write waits, so "
                         + "logins fail closed (store_timeout) (docs/fleet.md)"]
            }
            return lines
        }
    }

    /// The connection of one store operation: opened on first use, closed when the operation
    /// ends, whatever it ended with. For a login, the operation's waits are bounded by what is
    /// left of its budget, and its time is taken from it.
    final class Link {
        let store: PostgresStore
        let deadline: Int64?
        var db: PostgresConnection?

        init(_ store: PostgresStore, deadline: Int64?) {
            self.store = store
            self.deadline = deadline
        }

        /// The connection with a transaction begun. A connection that died between two
        /// transactions (a failover after a charge) is replaced once: nothing of this
        /// transaction ran yet.
        func begun() throws -> PostgresConnection {
            if let db = db, db.isOpen {
                do {
                    try db.begin()
                    return db
                } catch {
                    guard !db.isOpen else { throw error }
                }
            }
            db = nil
            let fresh = try store.held.flatMap { $0.isOpen ? $0 : nil }
                ?? PostgresConnection(uri: store.uri, password: store.password, timeout: store.timeout, deadline: deadline)
            db = fresh
            try fresh.begin()
            return fresh
        }
    }

    /// Runs one store operation on its own connection (`Link`), closed at its end; `session()`'s
    /// connection is used, and kept, when there is one.
    func connected<T>(_ body: (Link) throws -> T) throws -> T {
        let started = Monotonic.milliseconds()
        var deadline: Int64? = nil
        if let budget = budget {
            guard budget.milliseconds > 0 else {
                throw StoreError.io("PostgreSQL store: this login's store work took store_timeout (\(timeout) s) already")
            }
            deadline = started + budget.milliseconds
        }
        let link = Link(self, deadline: deadline)
        defer {
            if let db = link.db, db !== held { db.close() }
            budget?.milliseconds -= Monotonic.milliseconds() - started
        }
        return try body(link)
    }

    /// One read-only statement in its own transaction, so that the timeouts `begin` sets
    /// bound it too.
    func transaction<T>(_ step: (PostgresConnection) throws -> T) throws -> T {
        try connected { link in
            let db = try link.begun()
            do {
                let result = try step(db)
                try db.commit()
                return result
            } catch {
                if db.isOpen, (try? db.execute("ROLLBACK")) == nil { db.close() }
                throw error
            }
        }
    }

    func parse(_ text: String?, user: String) throws -> TokenRecord {
        do {
            return try RecordFormat.parse(text ?? "", expectedUser: user)
        } catch let error as CorruptRecord {
            throw StoreError.corrupt(user: user, path: "emailotp_tokens[\(LogText.printable(user))]", error)
        }
    }

    /// A connection kept open until the store goes away; for `emailotp store-init` and `migrate`.
    package func session() throws -> PostgresConnection {
        if let db = held, db.isOpen { return db }
        let db = try PostgresConnection(uri: uri, password: password, timeout: timeout, deadline: nil)
        held = db
        return db
    }
}

/// The store time left to one login, in milliseconds.
final class StoreBudget {
    var milliseconds: Int64

    init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }
}
