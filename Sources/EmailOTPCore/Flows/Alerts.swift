import EmailOTPConfig
import EmailOTPMail
import EmailOTPSystem
import EmailOTPToken

/// Alert mails (`notify`, emailotp.conf(5)). They are sent after the login's result is decided and
/// never change it: a failing alert is logged only. They have their own hourly quota
/// (`max_mails_per_hour`, counted in the record's `alerts`), so alerts cannot use up the
/// user's codes, nor codes the alerts.
extension VerifyOutcome {
    /// The failures that count, after which the token may have just locked.
    var mayHaveLocked: Bool {
        switch self {
        case .wrong, .wrongPIN: return true
        default: return false
        }
    }
}

extension TokenRecord {
    /// Takes one alert from the hourly quota; false when it is used up.
    public mutating func reserveAlert(now: Int64, config: Config) -> Bool {
        alerts.removeAll { $0 <= now - 3600 || $0 > now + 3600 }
        guard alerts.count < config.maxMailsPerHour else { return false }
        alerts.append(now)
        return true
    }
}

extension Authenticator {
    /// Mails the lockout alert once per lock: the record remembers the lock it was sent for.
    func alertLockout(user: String) {
        guard config.notify.contains(.lockout) else { return }
        guard let existing = try? store.read(user: user), existing.isLocked, existing.alertedLock != existing.lockedAt else { return }
        alert(.lockout, user: user) { r in
            guard r.isLocked, r.alertedLock != r.lockedAt else { return false }
            r.alertedLock = r.lockedAt
            return true
        }
    }

    /// Reserves the quota (and, with `when`, checks and marks the record) under the lock,
    /// then mails the alert.
    package func alert(_ event: AlertEvent, user: String, when: (inout TokenRecord) -> Bool = { _ in true }) {
        var now: Int64 = 0
        let address: String?
        do {
            address = try store.update(user: user) { record, storeNow -> String? in
                now = storeNow
                guard var r = record, when(&r) else { return nil }
                guard r.reserveAlert(now: now, config: config) else {
                    log(.warning, user, "\(event.name) alert not sent: max_mails_per_hour of alerts reached")
                    return nil
                }
                record = r
                return r.email
            }
        } catch {
            log(.error, user, "\(event.name) alert not sent: store error: \(error)")
            return
        }
        guard let stored = address else { return }
        var to = stored
        do {
            // A token enrolled with --address-from-command keeps no address.
            if to.isEmpty { to = try AddressCommand(config: config).address(for: user) }
            let mail = try MailComposer(config: config, random: random).composeAlert(
                AlertMailContext(user: user, address: to, event: event, service: context.service,
                                 rhost: context.rhost, host: context.host, time: now))
            try mailer.send(mail)
            log(.notice, user, "\(event.name) alert mailed to \(EmailAddress.masked(to))")
        } catch {
            log(.error, user, "\(event.name) alert mail failed: \(error)")
        }
    }
}
