import EmailOTPConfig
import EmailOTPCrypto
import EmailOTPFlows
import EmailOTPHelper
import EmailOTPMail
import EmailOTPStore
import EmailOTPSystem
import EmailOTPToken

/// What a user may do with their own token without root: `emailotp status`, `set-pin`,
/// `recovery-codes` and `forget` run by the user, served by the setuid helper for the user of
/// its real uid (emailotp(8), YOUR OWN TOKEN). The verbs that raise trust (a PIN, recovery
/// codes) first pass a login of their own — the PIN if the token has one, then a code mailed
/// for this purpose — with the login's counting, lockout and logging; every change is logged
/// and mailed to the token's address. The address cannot be changed here.
package struct OwnToken {
    package let user: String
    /// The configuration as the system has it (the status reads the record through its rules).
    package let config: Config
    /// The authenticator of this request, for a PIN mode (`OwnToken.proofSettings` applied).
    package let authenticator: (PINMode) -> Authenticator
    package let conversation: Conversation
    package let random: RandomSource

    package init(user: String, config: Config, authenticator: @escaping (PINMode) -> Authenticator,
                 conversation: Conversation, random: RandomSource) {
        self.user = user
        self.config = config
        self.authenticator = authenticator
        self.conversation = conversation
        self.random = random
    }

    /// The settings of the proof: a code mailed for this request every time (no re-used
    /// challenge of a login), and no enrolment at this login (`enroll_at_login`): the verbs
    /// act on a token that exists. Neither a remembered host nor a cached grant can stand in for it:
    /// the request has no remote host, its service is its own label, and the interactive flow
    /// never takes a cached grant. `auth_cache` stays as set: 0 would drop the user's grants
    /// on the proof's first write, and a wrong code must change nothing but the count.
    package static func proofSettings(_ config: Config) -> Config {
        var proof = config
        proof.remember = 0
        proof.resendInterval = 0
        proof.enrollAtLogin = false
        return proof
    }

    package func run(_ action: HelperProtocol.TokenAction) -> AuthResult {
        let base = authenticator(.token)
        do {
            switch action {
            case .status:
                let record = try base.store.read(user: user)
                for line in OwnToken.statusLines(user: user, record: record, now: base.clock.now(), config: config) {
                    conversation.info(line)
                }
                return .success
            case .forget:
                let (hosts, grants) = try change(base) { $0.forgetTrust() }
                let done = "forgot \(hosts) remembered host\(hosts == 1 ? "" : "s") and \(grants) cached grant\(grants == 1 ? "" : "s")"
                changed(base, log: "remembered hosts and cached grants dropped by the token's owner (\(done))",
                        alert: "Your remembered hosts and cached logins were dropped.")
                conversation.info("\(user): \(done)")
                return .success
            case .setPIN:
                let proof = prove()
                guard proof == .success else { return proof }
                guard let first = conversation.prompt("New PIN: ", echo: false),
                      let second = conversation.prompt("Repeat the PIN: ", echo: false) else { return .conversationError }
                guard first == second else {
                    conversation.error("The PINs do not match; the PIN is unchanged.")
                    return .authError
                }
                if let problem = PINHash.validate(first) {
                    conversation.error("\(problem); the PIN is unchanged.")
                    return .authError
                }
                let hash = try PINHash.make(first, random: random)
                try change(base) { $0.replacePIN(hash) }
                changed(base, log: "PIN changed by the token's owner", alert: "Your PIN was changed.")
                conversation.info("PIN changed; it is asked from your next login on.")
                return .success
            case .recoveryCodes(let count):
                let proof = prove()
                guard proof == .success else { return proof }
                // Drawn and hashed before the user's lock is taken, like root's verb.
                let codes = try RecoveryCode.generate(count: count, random: random)
                let hashes = try codes.map { try RecoveryCode.hash($0, random: random) }
                try change(base) { $0.replaceRecoveryCodes(hashes) }
                changed(base, log: "recovery codes replaced by the token's owner (\(count))",
                        alert: "Your recovery codes were replaced by a new set of \(count); the previous ones no longer work.")
                conversation.info("Your new recovery codes, each good once (the previous set no longer works):\n"
                    + codes.joined(separator: "\n"))
                return .success
            }
        } catch is NoToken {
            conversation.error("\(user) has no token; ask your administrator to enroll you.")
            return .authError
        } catch {
            base.log(.error, user, "own token \(action.verb): \(error)")
            conversation.error("The token could not be changed; see the system log.")
            return .serviceError
        }
    }

    /// The login that proves the owner before a change that raises trust: the PIN when the
    /// token has one (a user without a token is asked one too, and refused after the same
    /// work as a wrong PIN), then a code mailed for this request.
    func prove() -> AuthResult {
        let mode: PINMode
        do {
            let record = try authenticator(.token).store.read(user: user)
            if record?.pending == true {
                conversation.error("Your token is not set up yet: log in once to finish your enrolment.")
                return .authError
            }
            mode = record.map { $0.pinHash == nil ? .none : .token } ?? .token
        } catch {
            return .unavailable
        }
        return InteractiveFlow(authenticator(mode)).run(user: user, conversation: conversation, nullok: false, stackPIN: nil,
                                                       firstPass: .no).status
    }

    struct NoToken: Error {}

    /// Applies a rule of Token/ to the user's record under its lock; `NoToken` when there is none.
    @discardableResult
    func change<T>(_ base: Authenticator, _ rule: (inout TokenRecord) -> T) throws -> T {
        let done: T? = try base.store.update(user: user) { record in
            guard var r = record else { return nil }
            let result = rule(&r)
            record = r
            return result
        }
        guard let result = done else { throw NoToken() }
        return result
    }

    func changed(_ base: Authenticator, log line: String, alert: String) {
        base.log(.notice, user, line)
        base.alert(.ownToken(alert), user: user)
    }

    /// What `emailotp status` shows a user about their own token (the address masked).
    package static func statusLines(user: String, record stored: TokenRecord?, now: Int64, config: Config) -> [String] {
        guard var record = stored else { return ["\(user): no token (not enrolled)"] }
        record.purge(now: now, config: config)
        func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }
        let lock = record.isLocked
            ? "yes, since \(TimeFormat.local(record.lockedAt))"
                + (config.unlockTime > 0 ? ", until \(TimeFormat.local(record.lockedAt + config.unlockTime))" : ", until an administrator resets it")
            : "no (\(plural(record.failCount, "failure")) of \(config.maxFail))"
        return [
            "user:        \(user)",
            record.pending ? "token:       pending: your next login finishes the enrolment"
                : "token:       enrolled, \(record.enabled ? "enabled" : "disabled")",
            "address:     \(record.email.isEmpty ? "from the directory (address_command)" : EmailAddress.masked(record.email))",
            "PIN:         \(record.pinHash == nil ? "none" : "set")",
            "locked:      \(lock)",
            "recovery:    \(plural(record.recoveryHashes.count, "code")) left",
            "remembered:  \(plural(record.remembered.count, "host"))",
            "cached:      \(plural(record.cachedGrants.count, "grant")) (auth_cache)",
        ]
    }
}
