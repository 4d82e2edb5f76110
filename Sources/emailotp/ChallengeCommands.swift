import ArgumentParser
import EmailOTPAdmin
import EmailOTPCore
import Glibc

extension EmailOTP {
    struct Challenges: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List open challenges, of one user or of all.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Only this user's challenges (default: every user's).") var user: String?

        func run() throws {
            try EmailOTPTool.run {
                let config = try global.loadConfig()
                let store = global.openStore(config)
                let users = try user.map { [try checkedUser($0)] } ?? store.users()
                var rows = [["USER", "TRANSACTION_ID", "CREATED", "EXPIRES", "TRIES_LEFT"]]
                for name in users {
                    guard let record = try store.read(user: name) else {
                        if user != nil { throw CLIError("\(name) has no token") }
                        continue
                    }
                    for c in record.challenges {
                        rows.append([name, c.transactionID, TimeFormat.iso8601(c.created), TimeFormat.iso8601(c.expires), String(c.triesLeft)])
                    }
                }
                printTable(rows)
            }
        }
    }

    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drop expired challenges and remembered hosts, and unlock tokens whose unlock_time has passed.",
            discussion: "With notify = unanswered, also mails the alert of codes that expired unused.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try EmailOTPTool.run {
                let config = try global.loadConfig()
                let store = global.openStore(config)
                let dropped = try TokenAdmin(store: store, config: config).purge()
                var line = "purged \(dropped.challenges) expired challenge\(dropped.challenges == 1 ? "" : "s"), "
                    + "\(dropped.hosts) expired remembered host\(dropped.hosts == 1 ? "" : "s")"
                if !dropped.unanswered.isEmpty {
                    let clock = SystemClock(), random = OpenSSLRandom()
                    let alerts = Authenticator(config: config, pinMode: .token, store: store, clock: clock, random: random,
                                               mailer: makeMailer(config, clock: clock, random: random), logger: StderrLogger(),
                                               context: RequestContext(service: "emailotp-purge", rhost: ""))
                    let mailed = dropped.unanswered.filter { alerts.alertUnanswered(user: $0) }.count
                    line += ", mailed \(mailed) unanswered-code alert\(mailed == 1 ? "" : "s")"
                }
                print(line)
            }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The two-step challenge flow from a script: one password line on standard input.",
            discussion: """
            The PIN alone mails a code, prints the transaction id and exits 3. The PIN followed by \
            the code exits 0 (granted) or 1 (denied). With --transaction-id, the line is the code \
            alone, accepted for that challenge only. Exit 2: configuration, store or mail error.
            """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The user (PAM_USER) who logs in.") var user: String
        @Option(help: ArgumentHelp("Answer this challenge with the code alone.", valueName: "id")) var transactionId: String?
        @Option(help: ArgumentHelp("token: the password starts with the PIN; none: the token has no PIN.", valueName: "token|none"))
        var pin = PINMode.token
        @Flag(help: "Print the outcome as JSON.") var json = false

        func run() throws {
            let report: FlowResult
            do {
                let user = try checkedUser(self.user)
                let config = try global.loadConfig()
                let authenticator = PAMLogin.system(config: config, pinMode: pin, logger: StderrLogger(),
                                                 context: RequestContext(service: "emailotp-check", rhost: ""))
                let line = Terminal.readLine() ?? ""
                if let id = transactionId {
                    report = ChallengeFlow(authenticator).answer(user: user, transactionID: id, code: line.trimmedBlanks)
                } else {
                    report = ChallengeFlow(authenticator).step(user: user, password: line, nullok: false)
                }
            } catch {
                if json {
                    print(JSON.object([("status", .string("error")), ("transaction_id", .null),
                                       ("message", .string("\(error)")), ("valid_until", .null)]).text)
                } else {
                    printError("\(error)")
                }
                throw ExitCode(2)
            }
            let status: String
            let exit: Int32
            switch report.status {
            case .success: (status, exit) = ("granted", 0)
            case .unavailable, .serviceError: (status, exit) = ("error", 2)
            default: (status, exit) = report.isChallenge ? ("challenge", 3) : ("denied", 1)
            }
            let message = report.message.isEmpty ? (status == "granted" ? "access granted" : "access denied") : report.message
            if json {
                let challenge = report.isChallenge ? report.challenge : nil
                print(JSON.object([
                    ("status", .string(status)),
                    ("transaction_id", challenge.map { .string($0.transactionID) } ?? .null),
                    ("message", .string(message)),
                    ("valid_until", challenge.map { .string(TimeFormat.iso8601($0.expires)) } ?? .null),
                ]).text)
            } else {
                if let challenge = report.challenge, report.isChallenge { print(challenge.transactionID) }
                Console.writeError("\(message)\n")
            }
            throw ExitCode(exit)
        }
    }
}
