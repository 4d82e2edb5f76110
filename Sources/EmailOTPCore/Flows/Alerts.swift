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

extension Authenticator {
    /// The last step of a flow: when one of its refusals was `due` it (`Refusal.alertsLockout`),
    /// mails the lockout alert once per lock (the record remembers the lock it was sent for).
    /// It runs after the result is decided and the refusal logged and shown, and reads the
    /// record whatever state the token is in.
    func alertLockout(user: String, due: Bool) {
        guard due, config.notify.contains(.lockout) else { return }
        guard let existing = try? store.read(user: user), existing.lockAlertDue else { return }
        alert(.lockout, user: user) { $0.markLockAlerted() }
    }

    /// Mails the `unanswered` alert of the codes that expired unused (Token/Unanswered.swift):
    /// each one once, all those waiting in one mail, with the service and remote host each was
    /// asked from. The codes leave the record with the quota reserved, in one transaction; when
    /// the quota is used up they wait for the next chance. Returns whether a mail went out.
    @discardableResult
    package func alertUnanswered(user: String) -> Bool {
        guard config.notify.contains(.unanswered) else { return false }
        return alert(user: user, name: AlertEvent.unanswered([]).name) { r, now in
            let codes = r.takeUnanswered(now: now, config: config)
            return codes.isEmpty ? nil : .unanswered(codes)
        }
    }

    /// Reserves the quota (and, with `when`, checks and marks the record) under the lock,
    /// then mails the alert.
    package func alert(_ event: AlertEvent, user: String, when: (inout TokenRecord) -> Bool = { _ in true }) {
        alert(user: user, name: event.name) { r, _ in when(&r) ? event : nil }
    }

    /// `take` decides under the user's lock which alert is due (nil: none) and marks the record
    /// for it; the mark and the reserved quota are written together, then the mail is sent
    /// outside the lock. A failing mail is logged only. Returns whether a mail went out.
    @discardableResult
    func alert(user: String, name: String, _ take: (inout TokenRecord, _ now: Int64) -> AlertEvent?) -> Bool {
        var now: Int64 = 0
        let due: (address: String, event: AlertEvent)?
        do {
            due = try store.update(user: user) { record, storeNow -> (String, AlertEvent)? in
                now = storeNow
                guard var r = record, let event = take(&r, now) else { return nil }
                guard r.reserveAlert(now: now, config: config) else {
                    log(.warning, user, "\(name) alert not sent: max_mails_per_hour of alerts reached")
                    return nil
                }
                record = r
                return (r.email, event)
            }
        } catch {
            log(.error, user, "\(name) alert not sent: store error: \(error)")
            return false
        }
        guard let (stored, event) = due else { return false }
        var to = stored
        do {
            // A token enrolled with --address-from-command keeps no address.
            if to.isEmpty { to = try AddressCommand(config: config).address(for: user) }
            // The unanswered alert names where its codes were asked from, not who sends it.
            let mail = try MailComposer(config: config, random: random).composeAlert(
                AlertMailContext(user: user, address: to, event: event, service: event.origin?.service ?? context.service,
                                 rhost: event.origin?.rhost ?? context.rhost, host: context.host, time: now))
            try mailer.send(mail)
            log(.notice, user, "\(name) alert mailed to \(EmailAddress.masked(to))")
            return true
        } catch {
            log(.error, user, "\(name) alert mail failed: \(error)")
            return false
        }
    }
}
