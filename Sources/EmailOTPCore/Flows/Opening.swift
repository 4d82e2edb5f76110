import EmailOTPSystem
import EmailOTPToken
import Glibc

/// The system's account database, asked for the canonical spelling of a login name.
public protocol AccountDirectory {
    /// The account's own name (`pw_name`) for `name`, or nil when NSS knows no such account.
    func canonicalName(_ name: String) -> String?
}

/// `getpwnam_r(3)` (`Account.lookup`): SSSD or winbind map `ALICE` and `alice@DOMAIN` to the account `alice`; the
/// token must be looked up under that one name, or a variant would pass `nullok` untested.
public struct SystemAccounts: AccountDirectory {
    public init() {}

    public func canonicalName(_ name: String) -> String? {
        Account.lookup(name: name)?.name
    }
}

/// The names a flow works with.
struct OpenedLogin {
    /// The name the token is stored under.
    var user: String
    /// The login enrols the user (Enrolment.swift): a pending enrolment, or `enroll_at_login`
    /// with an address from `address_command`.
    var enrolling = false
}

extension Authenticator {
    /// The start both PAM flows share, before any prompt: a name that can be stored (clear
    /// refusal otherwise), its canonical spelling, the enrolment decision (`enrolsAtLogin`) and
    /// the `nullok` decision.
    func openLogin(user given: String, nullok: Bool) -> Result<OpenedLogin, AuthResult> {
        do {
            _ = try UserName.encode(given)
        } catch {
            log(.notice, given, "refused: user name cannot be enrolled (\(error))")
            return .failure(.userUnknown)
        }
        var user = given
        if let canonical = accounts.canonicalName(given), canonical != given {
            guard (try? UserName.encode(canonical)) != nil else {
                log(.notice, given, "refused: the account's own name cannot be enrolled")
                return .failure(.userUnknown)
            }
            log(.info, given, "looked up as the account's own name \(LogText.quoted(canonical))")
            user = canonical
        }
        let existing: TokenRecord?
        do {
            existing = try store.read(user: user)
        } catch {
            log(.error, user, "store error: \(error)")
            return .failure(.unavailable)
        }
        if enrolsAtLogin(user: user, existing: existing) { return .success(OpenedLogin(user: user, enrolling: true)) }
        if existing == nil && nullok {
            log(.info, user, "no token, nullok: ignored")
            return .failure(.ignore)
        }
        return .success(OpenedLogin(user: user))
    }

    /// True only when the user has no token, so that `nullok` lets the login pass: the opening
    /// alone, reading and writing nothing else (the module gives this answer without a process).
    /// With `enroll_at_login` and `address_command` the answer needs the command: never here.
    public func isUnenrolledUnderNullok(user given: String) -> Bool {
        if config.enrollAtLogin && !config.addressCommand.isEmpty { return false }
        if case .failure(.ignore) = openLogin(user: given, nullok: true) { return true }
        return false
    }

    /// Locks a token whose deferred misses (a `try_first_pass` check that no right PIN
    /// followed) reached `max_fail`; they were counted when they were charged.
    func settleDeferredMisses(user: String, _ misses: Int) {
        guard misses > 0 else { return }
        do {
            try store.update(user: user) { record, now in
                record?.lockIfDue(now: now, config: config)
            }
        } catch {
            log(.error, user, "store error: \(error)")
        }
        afterRefusal(.wrongPIN, user: user)
    }
}
