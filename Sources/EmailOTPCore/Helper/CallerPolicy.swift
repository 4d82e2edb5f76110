import EmailOTPConfig
import EmailOTPFlows
import EmailOTPSystem
import Glibc

/// Who started the helper, as the kernel tells it: the real uid, its account name and the
/// process's groups. Nothing the caller says (request fields, environment, arguments beyond
/// the verb's own) goes in here.
package struct HelperCaller: Equatable {
    package var uid: uid_t
    /// The account name of the real uid (`getpwuid(3)`), nil when the uid has none.
    package var name: String?
    package var groups: [gid_t]
    /// The program of the parent process (`/proc/PPID/exe`), for the log of a caller that is not root.
    package var program: String?

    package init(uid: uid_t, name: String?, groups: [gid_t], program: String? = nil) {
        self.uid = uid
        self.name = name
        self.groups = groups
        self.program = program
    }

    /// Started by root: the module's clean process (su, sudo), or root itself.
    package var isRoot: Bool { uid == 0 }

    /// For the log: `caller uid 1000 (alice)`.
    package var description: String { "caller uid \(uid) (\(name.map { LogText.printable($0) } ?? "?"))" }
}

/// What the helper found when it took root in every id, before it reads anything of the
/// caller's: facts of its own process, as the kernel tells them.
package struct HelperStart: Equatable {
    /// The effective uid was 0: the helper is installed setuid root.
    package var setuidRoot: Bool
    /// Why `setgroups(0)`, `setgid(0)` or `setuid(0)` failed; nil when the caller's identity is gone.
    package var identityError: String?
    /// The first resource limit still below what a login needs (`cshim_insufficient_limit`): a
    /// hard limit the caller lowered that could not be raised again.
    package var lowLimit: String?

    package init(setuidRoot: Bool = true, identityError: String? = nil, lowLimit: String? = nil) {
        self.setuidRoot = setuidRoot
        self.identityError = identityError
        self.lowLimit = lowLimit
    }
}

/// The helper's trust rule in one place (docs/callers.md; pam_emailotp(8), PROCESS MODEL): a
/// pure function of the caller, its own process, its arguments, the configuration and its
/// request, so that each rule is unit-tested. The helper's `main` asks `admit` before it reads
/// the configuration and `decide` once it has the request, and does what the decision says.
///
/// - Not setuid root, the caller's identity not dropped, or a limit too low to finish a login
///   (a lowered hard limit and no `CAP_SYS_RESOURCE`): nothing is evaluated.
/// - Real uid 0 (the module's clean process, or root): any login, with the module's arguments.
/// - Anyone else, `login`: settings from /etc/security/emailotp.conf alone (no `config=`, no
///   `key=value`), never `pin=none`; the login of the very user it runs as (a screen locker,
///   as `unix_chkpwd` serves pam_unix), or, for members of `helper_group`, any user's.
/// - Anyone, `token`: the caller's own token only, the user named by the real uid.
/// Whoever is not root has its service and remote host labelled as its claim, is bounded per
/// uid (`CallerSlots`), and waits out its own fail delay.
package enum CallerPolicy {
    /// Why a request is served.
    package enum Kind: Equatable {
        /// Real uid 0: root's services, their claims believed.
        case root
        /// A member of `helper_group`: any user's login, its claims labelled.
        case helperGroup
        /// A program asking for the login of the user it runs as (a screen locker).
        case ownLogin
        /// `emailotp` run by a user on their own token.
        case ownToken
    }

    /// A refusal: one log line that says what to change (the helper's one refusal type, also
    /// for a frame the protocol refuses).
    package typealias Refusal = HelperProtocol.Refused

    /// What the helper was started for, from its arguments: which verb, and (for `login`) the
    /// module's arguments it may honour.
    package struct Admission {
        package var verb: Verb
        package var options: ModuleOptions
        package var trusted: Bool
        /// Whose helpers this one counts among (`CallerSlots`) before the request is read: the
        /// caller's, unless it is root.
        package var slotUID: uid_t?

        /// The configuration file and its overrides: the module's arguments for root, the
        /// system's file alone for anyone else.
        package var configPath: String { trusted ? options.configPath : ConfigLoader.defaultPath }
        package var configExplicit: Bool { trusted && options.configExplicit }
        package var overrides: [(key: String, value: String)] { trusted ? options.overrides : [] }
    }

    package enum Verb: Equatable {
        case login
        case token
    }

    /// What the caller asked, once its first frame is read.
    package enum Request {
        case login(HelperProtocol.Request)
        case token(HelperProtocol.TokenAction)
    }

    /// How the helper serves one request.
    package struct Decision: Equatable {
        package var kind: Kind
        /// The user whose token the flow works on.
        package var user: String
        /// The service and remote host as the log and the mails show them (labelled claims for
        /// whoever is not root; inside the keys of auth_cache and remembered hosts too).
        package var service: String
        package var rhost: String
        package var quiet: Bool
        /// `PAM_TTY` and `PAM_RUSER` of a login (the source its failures are counted for); the
        /// remote user labelled as a claim for whoever is not root.
        package var tty: String
        package var ruser: String
        /// Whose helpers the request counts among (`CallerSlots`), when not already taken for the caller.
        package var slotUID: uid_t?
        /// The helper waits the fail delay itself (from the last answer): a caller that is not
        /// root must not guess faster than a PAM stack with pam_fail_delay, and under root's
        /// clean process the caller of su, who can watch the helper in /proc, must see it end at
        /// the same time whatever the work after the answer was.
        package var waitsItself: Bool
        /// Appended to each log line of the flow (with the program of the caller when not root).
        package var tag: String

        /// The PAM items the flow sees.
        package var context: RequestContext {
            RequestContext(service: service, rhost: rhost, quiet: quiet, tty: tty, ruser: ruser)
        }
    }

    /// Before the configuration is read: the helper's own process, the verb and the arguments
    /// this caller may give.
    package static func admit(caller: HelperCaller, start: HelperStart = HelperStart(), arguments: [String]) -> Result<Admission, Refusal> {
        guard start.setuidRoot else {
            return .failure(Refusal("emailotp-helper is not setuid root (install.sh installs it mode 4755 root)"))
        }
        if let error = start.identityError {
            return .failure(Refusal("cannot drop the caller's identity: \(error)"))
        }
        if let limit = start.lowLimit {
            // A limit the caller lowered and that could not be raised again would let it end the
            // helper in the middle of the flow.
            return .failure(Refusal("refused: \(limit) is below what a login needs and cannot be raised "
                + "(a hard limit lowered by the caller, and no CAP_SYS_RESOURCE)"))
        }
        let slotUID = caller.isRoot ? nil : caller.uid
        switch arguments.first {
        case HelperProtocol.verb?:
            let options: ModuleOptions
            do {
                options = try ModuleOptions(arguments: Array(arguments.dropFirst()))
            } catch {
                return .failure(Refusal("bad module arguments: \(error)"))
            }
            if !caller.isRoot {
                // A caller-chosen configuration, store or template would let it read root's files
                // through the mail, or skip the rules. pin=none would trust a first factor nobody checked.
                if options.configExplicit || !options.overrides.isEmpty {
                    let given = options.configExplicit ? "config=" : "\(options.overrides[0].key)="
                    return .failure(Refusal("refused argument \(given): the helper reads only \(ConfigLoader.defaultPath); "
                        + "put settings there, not on the module line of a service that does not run as root"))
                }
                if options.pinMode == .none {
                    return .failure(Refusal("refused pin=none: the helper cannot see the first factor of the caller's stack; use pin=token"))
                }
            }
            return .success(Admission(verb: .login, options: options, trusted: caller.isRoot, slotUID: slotUID))
        case HelperProtocol.tokenVerb?:
            guard arguments.count == 1 else {
                return .failure(Refusal("refused: \(HelperProtocol.tokenVerb) takes no arguments (the user is the caller's real uid)"))
            }
            return .success(Admission(verb: .token, options: ModuleOptions(), trusted: caller.isRoot, slotUID: slotUID))
        default:
            return .failure(Refusal("usage: emailotp-helper \(HelperProtocol.verb) [module arguments] | emailotp-helper "
                + "\(HelperProtocol.tokenVerb) (the protocol on stdin/stdout)"))
        }
    }

    /// Once the request is read: whether and how it is served. `groupID` looks up `helper_group`.
    package static func decide(_ admission: Admission, caller: HelperCaller, helperGroup: String, request: Request,
                              groupID: (String) -> gid_t? = UnixGroup.id(of:)) -> Result<Decision, Refusal> {
        // Whoever is not root: its program (the kernel's word) in every log line of the flow.
        let application = caller.isRoot ? "" : " application \(caller.program ?? "?")"
        let label = "claimed by uid \(caller.uid) (\(caller.name.map { LogText.printable($0) } ?? "?"))"
        switch (admission.verb, request) {
        case (.token, .token(let action)):
            guard let user = caller.name else {
                return .failure(Refusal("refused: uid \(caller.uid) has no account name"))
            }
            return .success(Decision(kind: .ownToken, user: user, service: "emailotp \(action.verb) (own token of uid \(caller.uid))",
                                     rhost: "", quiet: false, tty: "", ruser: "", slotUID: nil, waitsItself: !caller.isRoot,
                                     tag: "(own token, caller uid \(caller.uid))\(application)"))
        case (.login, .login(let request)):
            if caller.isRoot {
                return .success(Decision(kind: .root, user: request.user, service: request.service, rhost: request.rhost,
                                         quiet: request.quiet, tty: request.tty, ruser: request.ruser, slotUID: request.callerUID == 0 ? nil : request.callerUID,
                                         waitsItself: true,
                                         tag: "(clean process for uid \(request.callerUID), application \(LogText.printable(request.program)))"))
            }
            let kind: Kind
            if let name = caller.name, request.user == name {
                kind = .ownLogin
            } else {
                guard !helperGroup.isEmpty else {
                    return .failure(Refusal("refused: helper_group is not set in \(ConfigLoader.defaultPath); "
                        + "set helper_group = GROUP and add the application's user to that group to let it use pam_emailotp "
                        + "for other users (a program may always ask for the login of the user it runs as)"))
                }
                guard let gid = groupID(helperGroup) else {
                    return .failure(Refusal("refused: helper_group \(helperGroup) is not a group on this host"))
                }
                guard caller.groups.contains(gid) else {
                    return .failure(Refusal("refused: not a member of helper_group \(helperGroup) "
                        + "(\(ConfigLoader.defaultPath)); add the application's user to that group"))
                }
                kind = .helperGroup
            }
            // The service and remote host are the caller's word: labelled so in the log and the
            // mail, and (inside the keys of auth_cache and remembered hosts) never those of root's services.
            return .success(Decision(kind: kind, user: request.user,
                                     service: "\(request.service.isEmpty ? "login" : request.service) (\(label))",
                                     rhost: request.rhost.isEmpty ? "" : "\(request.rhost) (claimed)", quiet: request.quiet,
                                     tty: request.tty, ruser: "\(request.ruser) (claimed by uid \(caller.uid))", slotUID: nil, waitsItself: true,
                                     tag: (kind == .ownLogin ? "(via helper, own login of caller uid \(caller.uid))" : "(via helper, caller uid \(caller.uid))")
                                        + application))
        case (.login, .token):
            return .failure(Refusal("refused request: an own-token request to \(HelperProtocol.verb)"))
        case (.token, .login):
            return .failure(Refusal("refused request: a login request to \(HelperProtocol.tokenVerb)"))
        }
    }
}
