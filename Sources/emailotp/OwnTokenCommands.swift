import ArgumentParser
import EmailOTPCore
import EmailOTPOwnToken
import Glibc

/// `emailotp status|set-pin|recovery-codes|forget` run by a user who is not root: the caller's
/// own token, through the setuid helper, which names the user by its real uid alone
/// (emailotp(8), YOUR OWN TOKEN). Nothing here decides whose token it is.
enum OwnTokenClient {
    /// The verbs a user who is not root may run.
    static let verbs: Set<String> = ["status", "set-pin", "recovery-codes", "forget"]

    /// True when `arguments` (the command line after the program) run one of `verbs`: the
    /// first word that is neither an option nor the value of `--config`/`--store`.
    static func isOwnTokenVerb(_ arguments: [String]) -> Bool {
        var skipValue = false
        for argument in arguments {
            if skipValue { skipValue = false; continue }
            if argument == "--config" || argument == "--store" { skipValue = true; continue }
            if ByteText.hasPrefix(argument, "-") { continue }
            return verbs.contains(argument)
        }
        return false
    }

    /// True when the verb acts on the caller's own token: run by a user who is not root.
    static var isUser: Bool { !ThisProcess.isRoot }

    /// Refuses what a user may not ask: another user's token (exit 77) or another configuration.
    static func check(user: String?, global: GlobalOptions, verb: String) throws {
        if global.config != nil || global.store != nil {
            printError("--config and --store are root's: your own token is served with the system's configuration")
            throw ExitCode(64)
        }
        guard let named = user else { return }
        guard let own = ownName(), named == own else {
            printError("\(LogText.printable(named)) is not you: without root, \(verb) acts on your own token only "
                + "(run `emailotp \(verb)` without a user; root runs `emailotp \(verb) USER`)")
            throw ExitCode(77)
        }
    }

    static func ownName() -> String? {
        Account.lookup(uid: ThisProcess.realUser)?.name
    }

    /// Runs `action` in the helper, relaying its prompts to the terminal; exits with 0 when
    /// it succeeded, 1 otherwise (the helper's messages say why, or the system log).
    static func run(_ action: HelperProtocol.TokenAction) throws {
        let path = BuildLayout.helperPath
        let outcome: HelperProtocol.Outcome?
        switch HelperCall.run(path, arguments: [HelperProtocol.tokenVerb], request: .tokenRequest(action),
                              relayingTo: TerminalConversation()) {
        case .noSocket(let error), .notStarted(let error):
            throw error
        case .ran(_, _, .exited(127)):
            throw CLIError("cannot run the helper \(path) (install.sh installs it setuid root)")
        case .ran(let result, _, _):
            outcome = result
        }
        guard let done = outcome else {
            throw CLIError("the helper \(path) ended without an answer; see the system log (journalctl -t emailotp-helper)")
        }
        switch done.result {
        case .success: return
        case .serviceError, .unavailable:
            throw CLIError("refused; see the system log (journalctl -t emailotp-helper)")
        default:
            throw ExitCode(1)
        }
    }
}

/// The helper's questions on the terminal: secrets with echo off, messages to stdout and stderr.
struct TerminalConversation: Conversation {
    func prompt(_ text: String, echo: Bool) -> String? {
        if echo {
            Console.writeError(text)
            return Terminal.readLine()
        }
        return try? Terminal.readSecret(text)
    }

    func info(_ text: String) {
        print(text)
        Console.flushOutput()
    }

    func error(_ text: String) {
        Console.writeError("\(text)\n")
    }
}

extension EmailOTP {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the state of your own token (any user; root may name a user).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Root only: the user whose state is shown.") var user: String?

        func run() throws {
            if OwnTokenClient.isUser || user == nil {
                if OwnTokenClient.isUser { try OwnTokenClient.check(user: user, global: global, verb: "status") }
                try EmailOTPTool.run { try OwnTokenClient.run(.status) }
                return
            }
            try EmailOTPTool.run {
                let user = try checkedUser(self.user ?? "")
                let config = try global.loadConfig()
                let record = try global.openStore(config).read(user: user)
                for line in OwnToken.statusLines(user: user, record: record, now: SystemClock().now(), config: config) { print(line) }
            }
        }
    }
}
