import ArgumentParser
import EmailOTPCore
import Glibc

extension EmailOTP {
    /// `emailotp metrics`: the store's state in the Prometheus text exposition format (0.0.4),
    /// for node_exporter's textfile collector. Aggregates only: no user names leave the host.
    struct Metrics: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the store's state as Prometheus metrics.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try EmailOTPTool.run {
                let config = try global.loadConfig()
                let store = global.openStore(config)
                var counts = MetricCounts()
                for user in try store.users() {
                    do {
                        guard let record = try store.read(user: user) else { continue }
                        counts.add(record.current(config))
                    } catch let error as StoreError {
                        guard case .corrupt = error else { throw error }
                        counts.unreadable += 1
                    }
                }
                print(counts.exposition, terminator: "")
            }
        }
    }
}

struct MetricCounts {
    var enabled = 0
    var disabled = 0
    var pending = 0
    var locked = 0
    var fromCommand = 0
    var withRecoveryCodes = 0
    var openChallenges = 0
    var mailsLastHour = 0
    var failures = 0
    var withFailures = 0
    var unreadable = 0

    /// `record` as the module sees it now (refreshed): expired challenges, old mail times and
    /// elapsed locks are gone.
    mutating func add(_ record: TokenRecord) {
        if record.pending { pending += 1 } else if record.enabled { enabled += 1 } else { disabled += 1 }
        if record.isLocked { locked += 1 }
        if record.email.isEmpty { fromCommand += 1 }
        if !record.recoveryHashes.isEmpty { withRecoveryCodes += 1 }
        openChallenges += record.challenges.count
        mailsLastHour += record.mails.count
        failures += record.failCount
        if record.failCount > 0 { withFailures += 1 }
    }

    var exposition: String {
        var out = ""
        func gauge(_ name: String, _ help: String, _ samples: [(labels: String, value: Int)]) {
            out += "# HELP emailotp_\(name) \(help)\n# TYPE emailotp_\(name) gauge\n"
            for sample in samples { out += "emailotp_\(name)\(sample.labels) \(sample.value)\n" }
        }
        gauge("tokens", "Enrolled tokens by state.", [("{state=\"enabled\"}", enabled), ("{state=\"disabled\"}", disabled),
                                                           ("{state=\"pending\"}", pending)])
        gauge("tokens_locked", "Tokens locked after max_fail consecutive failures (and not yet unlocked).", [("", locked)])
        gauge("tokens_address_from_command", "Tokens whose address comes from address_command.", [("", fromCommand)])
        gauge("tokens_with_recovery_codes", "Tokens with recovery codes left.", [("", withRecoveryCodes)])
        gauge("open_challenges", "Challenges mailed and not yet answered or expired.", [("", openChallenges)])
        gauge("mails_last_hour", "Code mails sent in the last hour (what max_mails_per_hour counts).", [("", mailsLastHour)])
        gauge("failures", "Consecutive failures (wrong PIN or code) summed over all tokens.", [("", failures)])
        gauge("tokens_with_failures", "Tokens with at least one consecutive failure.", [("", withFailures)])
        gauge("records_unreadable", "Store records that are corrupt (those users are refused).", [("", unreadable)])
        return out
    }
}
