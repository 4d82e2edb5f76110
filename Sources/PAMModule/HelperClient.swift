import CPAM
import CShim
import EmailOTPCore
import Glibc

/// Where this `pam_sm_authenticate` runs its flow (pam_emailotp(8), PROCESS MODEL).
enum ProcessPlace: Equatable {
    /// Root's own daemon (sshd, login, cron, Dovecot's auth worker): real uid 0, started without
    /// AT_SECURE. The flow runs in the application's process.
    case application
    /// A setuid, setgid or capability-raised application, or one whose real uid is not 0 (su,
    /// sudo, chfn, pkexec): the person logging in chose its environment, limits and signals and
    /// may stop it. The flow runs in a clean child that execs the helper as root in every id.
    case cleanProcess
    /// An application that is not root (a web application, an nginx worker): the setuid helper
    /// serves it under its own restrictions (helper_group; no config=, key=value or pin=none).
    case setuidHelper

    static func current() -> ProcessPlace {
        if ThisProcess.effectiveUser != 0 { return .setuidHelper }
        if ThisProcess.realUser != 0 || ThisProcess.startedSecure { return .cleanProcess }
        return .application
    }
}

/// The login run by the helper, the module relaying its conversation: the helper's prompts
/// become PAM prompts, their answers go back, until its result. With `clean`, the helper is
/// started root in every id with the system's limits, every signal at its default, an empty
/// environment, only the socket for descriptors and a session of its own; otherwise it is
/// the setuid helper started by an application that is not root.
func loginThroughHelper(session: PAMSession, options: ModuleOptions, arguments: [String],
                        user: String, clean: Bool) -> HelperProtocol.Outcome {
    let failed = HelperProtocol.Outcome(result: .serviceError, failDelay: 0, openedChallenge: false)
    let path = options.helperPath
    let request = HelperProtocol.Request(user: user, service: session.item(PAM_SERVICE) ?? "",
                                         rhost: session.item(PAM_RHOST) ?? "", authtok: session.item(PAM_AUTHTOK),
                                         callerUID: ThisProcess.realUser, program: ThisProcess.program(), quiet: session.quiet,
                                         tty: session.item(PAM_TTY) ?? "", ruser: session.item(PAM_RUSER) ?? "")
    // The helper judges every argument itself; helper= only says where it is.
    let forwarded = arguments.filter { !ByteText.hasPrefix($0, "helper=") }
    switch HelperCall.run(path, arguments: [HelperProtocol.verb] + forwarded, request: .request(request),
                          as: clean ? .cleanRoot : .inherited, relayingTo: session) {
    case .noSocket(let error):
        session.log(.error, "helper \(path): \(error)")
        return failed
    case .notStarted(let error):
        session.log(.error, "cannot run the helper \(path): \(error)")
        return failed
    case .ran(let outcome, let broken, let status):
        switch broken {
        case .requestNotWritten?: session.log(.error, "helper \(path): the request could not be written")
        case .relay(let error)?: session.log(.error, "helper \(path): \(error)")
        case nil: break
        }
        switch status {
        case .exited(127):
            session.log(.error, "cannot run the helper \(path) (\(clean ? "setuid and non-root callers" : "applications that are not root") "
                + "need it; install.sh installs it)")
            return failed
        case .signaled(let signal):
            session.log(.error, "helper \(path) died of signal \(signal)")
            return failed
        default:
            return outcome ?? failed
        }
    }
}
