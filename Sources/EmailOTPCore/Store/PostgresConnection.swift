import CShim
import EmailOTPSystem
import Glibc

/// One libpq connection whose every wait is bounded: `connect_timeout` while connecting, then
/// the server's `statement_timeout` / `lock_timeout` and a client-side deadline on each
/// statement, so that a dead or hanging database never holds sshd. After a client-side
/// timeout the connection is closed: the server rolls back whatever was open.
package final class PostgresConnection {
    private var raw: OpaquePointer?
    package let timeout: Int64

    /// `uri` is expanded by libpq; `password` (from `store_password_file`) is passed apart.
    init(uri: String, password: String, timeout: Int64) throws {
        self.timeout = timeout
        var error = [CChar](repeating: 0, count: 256)
        guard cshim_pq_load(&error, error.count) == 0 else {
            throw StoreError.io("PostgreSQL store: \(String(cString: error))")
        }
        // Earlier entries are defaults the URI may override; later ones override the URI.
        var parameters: [(String, String)] = [("connect_timeout", String(max(timeout, 2))),
                                              ("fallback_application_name", "pam_emailotp"),
                                              ("dbname", uri),
                                              ("client_encoding", "UTF8")]
        if !password.isEmpty { parameters.append(("password", password)) }
        let keywords = parameters.map { strdup($0.0) }
        let values = parameters.map { strdup($0.1) }
        defer {
            for pointer in keywords + values { free(pointer) }
        }
        var keywordArray: [UnsafePointer<CChar>?] = keywords.map { UnsafePointer($0) } + [nil]
        var valueArray: [UnsafePointer<CChar>?] = values.map { UnsafePointer($0) } + [nil]
        guard keywords.allSatisfy({ $0 != nil }), values.allSatisfy({ $0 != nil }) else {
            throw StoreError.io("PostgreSQL store: out of memory")
        }
        let connection = keywordArray.withUnsafeMutableBufferPointer { k in
            valueArray.withUnsafeMutableBufferPointer { v in
                cshim_pq_connect(k.baseAddress, v.baseAddress)
            }
        }
        guard let connection = connection else { throw StoreError.io("PostgreSQL store: out of memory") }
        raw = connection
        guard cshim_pq_status(connection) == Int32(CSHIM_CONNECTION_OK) else {
            let message = Self.oneLine(cshim_pq_error_message(connection))
            close()
            throw StoreError.io("PostgreSQL store: cannot connect: \(message)")
        }
        guard cshim_pq_set_nonblocking(connection, 1) == 0 else {
            close()
            throw StoreError.io("PostgreSQL store: cannot switch the connection to non-blocking mode")
        }
        // The lock wait ends first, so that a held row is reported as such; a host that
        // vanishes inside a transaction must not hold a user's row for long.
        _ = try execute("SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false), "
                        + "set_config('idle_in_transaction_session_timeout', $3, false)",
                        [String(timeout * 1000), String(timeout * 1000 + 250), String(timeout * 2000)])
    }

    deinit { close() }

    package var isOpen: Bool { raw.map { cshim_pq_status($0) == Int32(CSHIM_CONNECTION_OK) } ?? false }

    package func close() {
        if let connection = raw { cshim_pq_finish(connection) }
        raw = nil
    }

    /// Runs one statement with text parameters; the rows of its result, NULL as nil.
    @discardableResult
    package func execute(_ sql: String, _ parameters: [String] = []) throws -> [[String?]] {
        guard let connection = raw else { throw StoreError.io("PostgreSQL store: the connection is closed") }
        let deadline = Self.monotonicMilliseconds() + timeout * 1000 + 500
        let copies = parameters.map { strdup($0) }
        defer { for pointer in copies { free(pointer) } }
        guard copies.allSatisfy({ $0 != nil }) else { throw StoreError.io("PostgreSQL store: out of memory") }
        var values: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
        let sent = values.withUnsafeMutableBufferPointer {
            cshim_pq_send_query_params(connection, sql, Int32(parameters.count), $0.baseAddress)
        }
        guard sent == 1 else { throw failure(cshim_pq_error_message(connection)) }
        while true {
            let flushed = cshim_pq_flush(connection)
            if flushed == 0 { break }
            guard flushed > 0 else { throw failure(cshim_pq_error_message(connection)) }
            try wait(POLLOUT | POLLIN, until: deadline)
            guard cshim_pq_consume_input(connection) == 1 else { throw failure(cshim_pq_error_message(connection)) }
        }
        var rows = [[String?]]()
        var problem: String? = nil
        while true {
            while cshim_pq_is_busy(connection) == 1 {
                try wait(POLLIN, until: deadline)
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
        return rows
    }

    private func wait(_ events: Int32, until deadline: Int64) throws {
        guard let connection = raw else { throw StoreError.io("PostgreSQL store: the connection is closed") }
        var descriptor = pollfd(fd: cshim_pq_socket(connection), events: Int16(events), revents: 0)
        while true {
            let left = deadline - Self.monotonicMilliseconds()
            guard left > 0 else {
                close()
                throw StoreError.io("PostgreSQL store: no answer from the database within store_timeout (\(timeout) s)")
            }
            let ready = poll(&descriptor, 1, Int32(min(left, 60_000)))
            if ready > 0 { return }
            if ready < 0 && errno != EINTR {
                close()
                throw StoreError.io(SystemError("poll", "PostgreSQL socket").description)
            }
        }
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

    package static func monotonicMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
