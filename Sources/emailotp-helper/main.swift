import EmailOTPCore
import Glibc

// emailotp-helper: the login of pam_emailotp outside the application's process (pam_emailotp(8),
// PROCESS MODEL), in the manner of pam_unix's unix_chkpwd. Installed setuid root. Its callers:
// - the module in a setuid application (su, sudo, chfn): its clean child execs the helper as
//   root in every id. Real uid 0: only root starts it so, and it may take the module's
//   arguments (config=, key=value, pin=none).
// - an application that is not root (a web application, an nginx worker) runs it directly:
//   members of helper_group only, settings from /etc/security/emailotp.conf only, its service
//   and remote host labelled as claimed and its grants kept apart from root's services.
// - a program asking for the login of the very user it runs as (a screen locker), without
//   helper_group, as unix_chkpwd serves pam_unix for the caller's own password;
// - `emailotp` run by a user on their own token (`emailotp-helper token`), for the user of the
//   real uid alone.
// Whatever the caller handed down (environment, descriptors, signals, limits, umask) was reset
// before the Swift runtime started (CShim/helper/start.c). Who may ask what is CallerPolicy's to
// decide; HelperProcess.swift does what the decision says. The helper runs the whole flow (both
// modes, the mail too) and relays the conversation over its standard input and output
// (HelperProtocol).

/// Parse, decide, run, finish — like unix_chkpwd's main.
func main() -> Never {
    SystemLog.openAuthPrivate("emailotp-helper")
    // Parse: the caller as the kernel tells it (before this process takes root in every id), the
    // arguments, the configuration, the request.
    var helper = HelperProcess(caller: HelperProcess.caller())
    let start = HelperProcess.takeRoot()
    let admission = helper.must(CallerPolicy.admit(caller: helper.caller, start: start, arguments: Array(CommandLine.arguments.dropFirst())))
    helper.logger.debug = admission.options.debug
    let config = helper.must(HelperProcess.configuration(admission), "configuration refused: ")
    // Taken before the request is read: the caller's surplus helpers end at once.
    if let uid = admission.slotUID { helper.takeSlot(for: uid, of: "helpers of this caller") }
    let request = helper.must(HelperProcess.readRequest(), "refused request: ")

    // Decide.
    let decision = helper.must(CallerPolicy.decide(admission, caller: helper.caller, helperGroup: config.helperGroup, request: request))
    // A login of root's service: its clean process is bounded per application user as well.
    if let uid = decision.slotUID { helper.takeSlot(for: uid, of: "logins of this user") }

    // Run, then finish: the result frame, after the fail delay the helper waits itself.
    let conversation = RelayConversation(input: 0, output: 1, answerTimeout: min(max(config.otpValidity, 60), 900))
    let result = helper.run(request, decision, options: admission.options, config: config, conversation: conversation)
    helper.finish(result, decision, config: config, conversation: conversation)
}

main()
