import CShim
import EmailOTPSystem

/// One libpq connection whose every wait is bounded: `connect_timeout` while connecting, then
/// the server's `statement_timeout` / `lock_timeout` in each transaction (`begin`) and a
/// client-side deadline on each statement, so that a dead or hanging database never holds sshd. After a client-side
/// timeout the connection is closed: the server rolls back whatever was open. A COMMIT is
/// cancelled on the server instead (`commit`).
package final class PostgresConnection {
    private var raw: OpaquePointer?
    package let timeout: Int64
    /// The monotonic time (ms) past which no statement waits any more: the end of a login's
    /// store budget (`PostgresStore`) less `reserve`, or nil (each statement then waits
    /// `store_timeout`).
    let deadline: Int64?
    /// The end of the login's store budget: what `reserve` kept back serves a cancelled COMMIT
    /// (its reply and `undo`).
    let end: Int64?
    /// The last COMMIT was cancelled at the deadline, or returned with a warning: it may be
    /// committed on this server without the synchronous standby having it. The transaction is
    /// over and the connection usable (`undo`).
    private(set) var unconfirmed = false

    /// The time (ms) kept out of a login's store work for a COMMIT that must be cancelled: the
    /// cancel request, the COMMIT's reply, and `undo`'s one transaction.
    static func reserve(_ timeout: Int64) -> Int64 { min(200, timeout * 100) }

    /// `uri` is expanded by libpq; `password` (from `store_password_file`) is passed apart.
    /// The hosts of a multi-host URI are tried in turn, each within its share of what is left
    /// of `deadline` (without one, `store_timeout` each, at least 2 s); the addresses of one
    /// host name are tried within that host's share.
    init(uri: String, password: String, timeout: Int64, deadline: Int64?) throws {
        self.timeout = timeout
        self.end = deadline
        self.deadline = deadline.map { $0 - Self.reserve(timeout) }
        var error = [CChar](repeating: 0, count: 256)
        guard cshim_pq_load(&error, error.count) == 0 else {
            throw StoreError.io("PostgreSQL store: \(String(cString: error))")
        }
        guard cshim_pq_conninfo_has_password(uri) != 1 else {
            throw StoreError.unsafe("the store URI holds a password; put it in a root-only file named by store_password_file")
        }
        // Defaults the URI may override; overrides replace what it says. Nothing comes from the
        // environment (cshim_pq_connect).
        let defaults: [(String, String)] = [("connect_timeout", String(max(timeout, 2))),
                                            ("application_name", "pam_emailotp")]
        var overrides: [(String, String)] = [("client_encoding", "UTF8")]
        if !password.isEmpty { overrides.append(("password", password)) }
        var reasons = [String]()
        var index: Int32 = 0, count: Int32 = 1
        while index < count {
            var why = [CChar](repeating: 0, count: 512)
            let started = Self.withCArrays(defaults) { defaultKeys, defaultValues in
                Self.withCArrays(overrides) { overrideKeys, overrideValues in
                    cshim_pq_connect(uri, defaultKeys, defaultValues, overrideKeys, overrideValues, index, &count, &why, why.count)
                }
            }
            guard let connection = started else {
                throw StoreError.io("PostgreSQL store: cannot connect: \(Self.oneLine(why))")
            }
            let now = Monotonic.milliseconds()
            let share = self.deadline.map { now + max($0 - now, 0) / Int64(max(count - index, 1)) } ?? now + max(timeout, 2) * 1000
            if let reason = Self.establish(connection, until: share) {
                cshim_pq_finish(connection)
                reasons.append(reason)
                index += 1
                continue
            }
            raw = connection
            break
        }
        guard let connection = raw else {
            throw StoreError.io("PostgreSQL store: cannot connect: \(reasons.joined(separator: "; "))")
        }
        guard cshim_pq_set_nonblocking(connection, 1) == 0 else {
            close()
            throw StoreError.io("PostgreSQL store: cannot switch the connection to non-blocking mode")
        }
        cshim_pq_count_warnings(connection)
    }

    /// Drives a started connection (PQconnectPoll) until it is made or `end`; nil when made,
    /// else why not. Name resolution runs inside libpq and is the resolver's to bound.
    private static func establish(_ connection: OpaquePointer, until end: Int64) -> String? {
        guard cshim_pq_status(connection) != Int32(CSHIM_CONNECTION_BAD) else {
            return oneLine(cshim_pq_error_message(connection))
        }
        var state = Int32(CSHIM_PGRES_POLLING_WRITING)
        while true {
            switch state {
            case Int32(CSHIM_PGRES_POLLING_OK): return nil
            case Int32(CSHIM_PGRES_POLLING_FAILED): return oneLine(cshim_pq_error_message(connection))
            default: break
            }
            let events: Readiness.Events = state == Int32(CSHIM_PGRES_POLLING_READING) ? .readable : .writable
            do {
                guard try Readiness.wait(cshim_pq_socket(connection), for: events, until: Deadline(monotonic: end),
                                         what: "PostgreSQL socket") else { return "timeout expired (store_timeout)" }
            } catch {
                return "\(error)"
            }
            state = cshim_pq_connect_poll(connection)
        }
    }

    /// NULL-terminated keyword and value arrays of C strings for the duration of `body`
    /// (`CMemory.withCStrings`: libpq copies what it keeps).
    private static func withCArrays<T>(_ pairs: [(String, String)],
                                       _ body: (UnsafePointer<UnsafePointer<CChar>?>, UnsafePointer<UnsafePointer<CChar>?>) throws -> T) rethrows -> T {
        try CMemory.withCStrings(pairs.map { $0.0 }) { keywords in
            try CMemory.withCStrings(pairs.map { $0.1 }) { values in try body(keywords, values) }
        }
    }

    /// Opens a transaction whose waits are bounded. The settings are transaction-scoped
    /// (`SET LOCAL`): a pooler in transaction mode (PgBouncer) hands the server connection to
    /// another client after COMMIT, so a session-level `SET` would neither stay with this
    /// client nor leave the next one alone. The lock wait ends first, so that a held row is
    /// reported as such; a host that vanishes inside a transaction must not hold a user's row
    /// for long. One round trip: the simple protocol runs the statements together.
    package func begin() throws {
        var lock = timeout * 1000, statement = timeout * 1000 + 250
        let idle = timeout * 2000
        if let end = deadline {
            let left = end - Monotonic.milliseconds()
            guard left > 0 else { throw budgetSpent() }
            // The server's timeouts end before the client's deadline, so that a held row is
            // reported as such.
            lock = min(lock, max(left - 300, 1))
            statement = min(statement, max(left - 150, 1))
        }
        try execute("BEGIN; SET LOCAL lock_timeout = \(lock); SET LOCAL statement_timeout = \(statement); "
                    + "SET LOCAL idle_in_transaction_session_timeout = \(idle)", simple: true)
    }

    deinit { close() }

    package var isOpen: Bool { raw.map { cshim_pq_status($0) == Int32(CSHIM_CONNECTION_OK) } ?? false }

    package func close() {
        if let connection = raw { cshim_pq_finish(connection) }
        raw = nil
    }

    /// Commits the transaction `begin` opened. With synchronous replication a COMMIT waits
    /// for the standby, and a wait that is cancelled returns success with a mere warning
    /// although the standby never got the transaction (a code granted on that answer could be
    /// granted again after a failover). So the server's statement timeout is lifted for the
    /// COMMIT, and the module's own deadline ends the wait instead: past it, the module cancels
    /// the COMMIT on the server (PQcancel), which ends the wait, commits the transaction
    /// locally and frees its row locks and its connection slot, and counts the COMMIT as
    /// failed whatever it returns: the answer is an outage and nothing is granted
    /// (`unconfirmed`; `PostgresStore` takes a charge back with `undo`). A COMMIT that returns
    /// with a warning (its wait cancelled by anyone else, pg_cancel_backend) fails the same way.
    /// A backend whose client is gone (killed) is not cancelled: it waits for the standby.
    package func commit() throws {
        unconfirmed = false
        _ = cshim_pq_take_warnings()
        let cancelled: Bool
        do {
            cancelled = try run("SET LOCAL statement_timeout = 0; COMMIT", [], simple: true, until: nil, cancelling: true).cancelled
        } catch {
            _ = cshim_pq_take_warnings()
            throw error
        }
        let warned = cshim_pq_take_warnings() > 0
        guard !cancelled && !warned else {
            unconfirmed = true
            throw StoreError.io("PostgreSQL store: the COMMIT was not confirmed "
                                + (cancelled ? "within store_timeout (\(timeout) s) and was cancelled" : "(its wait was cancelled)")
                                + ": it may hold on the server without the synchronous standby (counted as an outage)")
        }
    }

    /// After a COMMIT that was not confirmed (`unconfirmed`), runs `sql` in one transaction that
    /// waits for no standby (`synchronous_commit = local`), within the time `reserve` kept
    /// back; the rows `sql` returned. On a synchronous standby it lands after the COMMIT it
    /// undoes (WAL order), or both are lost with the primary.
    package func undo(_ sql: String, _ parameters: [String]) throws -> [[String?]] {
        let until = min(Monotonic.milliseconds() + Self.reserve(timeout), end ?? Int64.max)
        let left = until - Monotonic.milliseconds()
        guard unconfirmed, left > 0 else { throw budgetSpent() }
        try execute("BEGIN; SET LOCAL synchronous_commit = local; SET LOCAL lock_timeout = \(max(left - 100, 1)); "
                    + "SET LOCAL statement_timeout = \(max(left - 50, 1))", simple: true, until: until)
        do {
            let rows = try execute(sql, parameters, until: until)
            try execute("COMMIT", simple: true, until: until)
            unconfirmed = false
            return rows
        } catch {
            if isOpen, (try? execute("ROLLBACK", simple: true, until: until)) == nil { close() }
            throw error
        }
    }

    /// Runs one statement with text parameters; the rows of its result, NULL as nil.
    /// `simple`: the simple query protocol, which runs several statements and takes no parameters.
    /// `until`: a deadline of its own instead of the statement's share of `deadline`.
    @discardableResult
    package func execute(_ sql: String, _ parameters: [String] = [], simple: Bool = false, until: Int64? = nil) throws -> [[String?]] {
        try run(sql, parameters, simple: simple, until: until, cancelling: false).rows
    }

    /// How long a statement waits: past `until`, a `cancelling` one (COMMIT) has its backend
    /// cancelled and waits for the reply until the end of the login's budget (`end`, or
    /// `reserve` more); others, and one whose reply does not come then, close the connection.
    private struct Wait {
        var until: Int64
        let cancelling: Bool
        var cancelled = false
    }

    /// `execute`, and whether the statement was cancelled at its deadline (`Wait`).
    private func run(_ sql: String, _ parameters: [String], simple: Bool, until: Int64?,
                     cancelling: Bool) throws -> (rows: [[String?]], cancelled: Bool) {
        guard let connection = raw else { throw StoreError.io("PostgreSQL store: the connection is closed") }
        var deadline = Wait(until: until ?? min(Monotonic.milliseconds() + timeout * 1000 + 500, self.deadline ?? Int64.max),
                            cancelling: cancelling)
        // libpq copies the parameters into its output buffer before PQsendQueryParams returns.
        let sent = simple ? cshim_pq_send_query(connection, sql) : CMemory.withCStrings(parameters) {
            cshim_pq_send_query_params(connection, sql, Int32(parameters.count), $0)
        }
        guard sent == 1 else { throw failure(cshim_pq_error_message(connection)) }
        while true {
            let flushed = cshim_pq_flush(connection)
            if flushed == 0 { break }
            guard flushed > 0 else { throw failure(cshim_pq_error_message(connection)) }
            try wait([.writable, .readable], &deadline)
            guard cshim_pq_consume_input(connection) == 1 else { throw failure(cshim_pq_error_message(connection)) }
        }
        var rows = [[String?]]()
        var problem: String? = nil
        while true {
            while cshim_pq_is_busy(connection) == 1 {
                try wait(.readable, &deadline)
                guard cshim_pq_consume_input(connection) == 1 else { throw failure(cshim_pq_error_message(connection)) }
            }
            guard let result = cshim_pq_get_result(connection) else { break }
            defer { cshim_pq_clear(result) }
            let status = cshim_pq_result_status(result)
            if status == Int32(CSHIM_PGRES_TUPLES_OK) {
                let count = max(cshim_pq_ntuples(result), 0)
                let width = max(cshim_pq_nfields(result), 0)
                for row in 0..<count {
                    rows.append((0..<width).map { column in
                        guard cshim_pq_getisnull(result, row, column) == 0, let value = cshim_pq_getvalue(result, row, column) else { return nil }
                        return String(cString: value)
                    })
                }
            } else if status != Int32(CSHIM_PGRES_COMMAND_OK), problem == nil {
                problem = Self.describe(result)
            }
        }
        if let problem = problem {
            if !isOpen { close() }
            throw StoreError.io("PostgreSQL store: \(problem)")
        }
        return (rows, deadline.cancelled)
    }

    private func wait(_ events: Readiness.Events, _ deadline: inout Wait) throws {
        guard let connection = raw else { throw StoreError.io("PostgreSQL store: the connection is closed") }
        let socket = cshim_pq_socket(connection)
        while true {
            let ready: Bool
            do {
                ready = try Readiness.wait(socket, for: events, until: Deadline(monotonic: deadline.until), what: "PostgreSQL socket")
            } catch {
                close()
                throw StoreError.io("\(error)")
            }
            if ready { return }
            if deadline.cancelling, !deadline.cancelled, cshim_pq_cancel_detached(connection) == 0 {
                deadline.cancelled = true
                deadline.until = min(Monotonic.milliseconds() + Self.reserve(timeout), end ?? Int64.max)
                continue
            }
            close()
            if let end = self.deadline, Monotonic.milliseconds() >= end { throw budgetSpent() }
            throw StoreError.io("PostgreSQL store: no answer from the database within store_timeout (\(timeout) s)")
        }
    }

    private func budgetSpent() -> StoreError {
        StoreError.io("PostgreSQL store: this login's store work reached store_timeout (\(timeout) s)")
    }

    private func failure(_ message: UnsafePointer<CChar>?) -> StoreError {
        let text = Self.oneLine(message)
        if !isOpen { close() }
        return StoreError.io("PostgreSQL store: \(text)")
    }

    /// The server's message, its SQLSTATE, and a hint for the states an administrator must act on.
    static func describe(_ result: OpaquePointer) -> String {
        let message = oneLine(cshim_pq_result_error_message(result))
        guard let raw = cshim_pq_result_error_field(result, Int32(CSHIM_PG_DIAG_SQLSTATE)) else { return message }
        let state = String(cString: raw)
        switch state {
        case "55P03": return "the record stayed locked longer than store_timeout (\(message))"
        case "57014": return "a statement ran longer than store_timeout (\(message))"
        case "42P01": return "the emailotp tables are missing: run emailotp store-init (\(message))"
        case "42501": return "permission denied: grant the module's role the rights emailotp store-init prints (\(message))"
        default: return "\(message) [SQLSTATE \(state)]"
        }
    }

    /// libpq messages span lines ("FATAL: …\nDETAIL: …"); a log line must not.
    static func oneLine(_ message: UnsafePointer<CChar>?) -> String {
        guard let message = message else { return "unknown error" }
        let parts = String(cString: message).split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            .map { String($0).trimmedBlanks }.filter { !$0.isEmpty }
        var text = ""
        for scalar in parts.joined(separator: "; ").unicodeScalars.prefix(400) {
            if scalar.value < 0x20 || scalar.value == 0x7F { text += "?" } else { text.unicodeScalars.append(scalar) }
        }
        return text.isEmpty ? "unknown error" : text
    }
}
