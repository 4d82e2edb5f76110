import EmailOTPConfig
import EmailOTPStore
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

/// What a login opens, read and nothing else: a name that can be stored (a clear refusal
/// otherwise), in the account's own spelling, and its record. Shared by `openLogin` and the
/// module's read-only `NullokQuery`.
struct LoginRecord {
    /// The name the token is stored under.
    var user: String
    var existing: TokenRecord?

    static func read(_ given: String, accounts: AccountDirectory, store: TokenStore,
                     log: (LogLevel, String, String) -> Void) -> Result<LoginRecord, AuthResult> {
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
        do {
            return .success(LoginRecord(user: user, existing: try store.read(user: user)))
        } catch {
            log(.error, user, "store error: \(error)")
            return .failure(.unavailable)
        }
    }
}

/// The module's `nullok` answer in the application's process, before it starts a clean
/// process (su, sudo): one read of the user's record, with no `Authenticator`, no mailer and
/// no write.
public enum NullokQuery {
    /// True only when the user has no token, so that `nullok` lets the login pass. With
    /// `enroll_at_login` and `address_command` the answer needs the command: never here. Any
    /// doubt (a store error, a name that cannot be stored, a pending enrolment) is false: the
    /// full flow then decides, in the clean process.
    public static func isUnenrolled(user given: String, config: Config, store: TokenStore, accounts: AccountDirectory = SystemAccounts(),
                                    logger: Logger, context: RequestContext) -> Bool {
        if config.enrollAtLogin && !config.addressCommand.isEmpty { return false }
        let log = { (level: LogLevel, user: String, message: String) in context.log(logger, level, user, message) }
        guard case .success(let opened) = LoginRecord.read(given, accounts: accounts, store: store, log: log),
              opened.existing == nil else { return false }
        log(.info, opened.user, "no token, nullok: ignored")
        return true
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
    /// The start both PAM flows share, before any prompt: the stored name and the record
    /// (`LoginRecord`), the enrolment decision (`enrolsAtLogin`) and the `nullok` decision.
    func openLogin(user given: String, nullok: Bool) -> Result<OpenedLogin, AuthResult> {
        let opened: LoginRecord
        switch LoginRecord.read(given, accounts: accounts, store: store, log: log) {
        case .failure(let result): return .failure(result)
        case .success(let read): opened = read
        }
        let user = opened.user
        if enrolsAtLogin(user: user, existing: opened.existing) { return .success(OpenedLogin(user: user, enrolling: true)) }
        if opened.existing == nil && nullok {
            log(.info, user, "no token, nullok: ignored")
            return .failure(.ignore)
        }
        return .success(OpenedLogin(user: user))
    }

    /// Locks a token whose deferred misses (a `try_first_pass` check that no right PIN
    /// followed) reached `max_fail`; they were counted when they were charged. Returns whether
    /// the lockout alert is due (there were misses), the flow's last step.
    func settleDeferredMisses(user: String, _ misses: Int) -> Bool {
        guard misses > 0 else { return false }
        do {
            let source = try sourceID(user: user)
            try store.update(user: user) { record, now in
                record?.lockIfDue(now: now, config: config, source: source)
            }
        } catch {
            log(.error, user, "store error: \(error)")
        }
        return true
    }

    /// A login that ends before a PIN was typed (no answer at the PIN prompt): its deferred
    /// misses are settled first (`settleDeferredMisses`, due the lockout alert when there were
    /// any), then `status` is taken (its log line comes after).
    func endBeforePIN(user: String, misses: Int, _ status: () -> AuthResult) -> FlowResult {
        var result = FlowResult(status: .conversationError)
        result.alertDue = settleDeferredMisses(user: user, misses)
        result.status = status()
        return result
    }
}
