import ArgumentParser
import EmailOTPAdmin
import EmailOTPCore
import Glibc

@main
struct EmailOTP: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emailotp",
        abstract: "Administer the Email OTP tokens of pam_emailotp.",
        discussion: "Every verb needs root, except status, set-pin, recovery-codes and forget: run by a user who is not root, "
            + "they act on that user's own token (set-pin and recovery-codes after the PIN and a mailed code), "
            + "through the setuid helper. The command reads the same configuration and store as the module.",
        version: "emailotp \(EmailOTPVersion.current)",
        subcommands: [
            Enroll.self, List.self, Show.self, SetPIN.self, SetEmail.self, Disable.self, Enable.self,
            Reset.self, Delete.self, Challenges.self, Purge.self, Check.self, SendTest.self,
            ConfigCheck.self, Demo.self, StoreInit.self, Migrate.self, RecoveryCodes.self, Forget.self,
            Metrics.self, Status.self,
        ]
    )

    /// `--config` and `--store`: declared here, so that they may stand before the verb
    /// (`emailotp --config C list`), and in every verb, which shares this value.
    @OptionGroup var global: GlobalOptions

    static func main() {
        // CommandLine.arguments turns invalid bytes into U+FFFD, so `caf\xe8` and `caf\xff`
        // would name one user: every argument must be valid UTF-8 as given.
        // argc may be 0 (execve with an empty argv): no argument to check then.
        for index in 1..<max(1, Int(CommandLine.argc)) {
            guard let raw = CommandLine.unsafeArgv[index], String(validatingCString: raw) != nil else {
                printError("argument \(index) is not valid UTF-8; user names and values must be UTF-8")
                ThisProcess.exit(64)  // a usage error, like any argument the parser refuses
            }
        }
        Self.main(nil)
    }
}

/// `check --pin token|none`: a value outside the enum is a usage error (exit 64).
extension PINMode: ExpressibleByArgument {}

/// `--config` and `--store`, shared by every verb.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The configuration file.", valueName: "path"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("The store directory or postgresql:// URI (overrides the store setting).", valueName: "dir|uri"))
    var store: String?

    func validate() throws {
        guard ThisProcess.effectiveUser == 0 || OwnTokenClient.isOwnTokenVerb(Array(CommandLine.arguments.dropFirst())) else {
            throw ValidationError("emailotp must be run as root (a user may run status, set-pin, recovery-codes and forget on their own token)")
        }
        if let path = config, !ByteText.hasPrefix(path, "/") {
            throw ValidationError("--config needs an absolute path")
        }
        if let path = store, !ByteText.hasPrefix(path, "/"), !StoreLocation.isDatabaseURI(path) {
            throw ValidationError("--store needs an absolute path or a postgresql:// URI")
        }
    }

    /// The configuration, read through the module's own loader.
    func loadConfig() throws -> Config {
        var overrides = [(key: String, value: String)]()
        if let store = store { overrides.append(("store", store)) }
        return try ConfigLoader().load(path: config ?? ConfigLoader.defaultPath, explicit: config != nil,
                                       overrides: overrides)
    }

    func openStore(_ config: Config) -> TokenStore {
        StoreLocation.open(config, clock: SystemClock(), random: OpenSSLRandom())
    }

    /// The shared start of every verb that changes tokens: the configuration, the store it
    /// names, and the rules of the verbs over that store.
    func tokenAdmin() throws -> TokenAdmin {
        let config = try loadConfig()
        return TokenAdmin(store: openStore(config), config: config)
    }
}

/// A failure the user can act on: printed as one line, exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Runs a verb, turning any error into `emailotp: error: ...` on stderr and a non-zero exit.
enum EmailOTPTool {
    static func run(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let exit as ExitCode {
            throw exit
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}

extension GlobalOptions {
    /// Checks that the configured store can be used, without making anything: a file store's
    /// directory and permissions, a database's reachability, schema and key. Returns a line
    /// worth printing, if any.
    func probeStore(_ config: Config) throws -> String? {
        do {
            let store = openStore(config)
            if let files = store as? FileStore, try !files.prepare(create: false) {
                return "note: the store \(config.store) does not exist yet; it is made on first use"
            } else if let database = store as? PostgresStore {
                _ = try store.codeKey()
                let reachable = "database store reachable: schema \(PostgresSchema.version), \(try store.users().count) tokens"
                return ([reachable] + (try database.replicationReport())).joined(separator: "\n")
            }
            return nil
        } catch {
            throw CLIError("store: \(error)")
        }
    }
}

func printError(_ message: String) {
    let line = "emailotp: error: \(message)\n"
    Console.writeError(line)
}

/// Logs of the shared flows go to stderr in the command.
struct StderrLogger: EmailOTPCore.Logger {
    var verbose = false
    func log(_ level: LogLevel, _ message: String) {
        guard verbose || level.rawValue <= LogLevel.warning.rawValue else { return }
        Console.writeError("emailotp: \(message)\n")
    }
}

/// The USER argument of a verb that root runs on anyone's token (a user runs it on their own
/// without one).
func rootsUser(_ user: String?) throws -> String {
    guard let user = user else { throw CLIError("name the user (as root, the verb acts on the user named)") }
    return user
}

/// Checks a user name argument before anything else happens.
func checkedUser(_ user: String) throws -> String {
    do {
        try UserName.validate(user)
    } catch {
        throw CLIError("\(error)")
    }
    return user
}

func checkedAddress(_ address: String) throws -> String {
    guard EmailAddress.isValid(address) else {
        throw CLIError("\"\(LogText.printable(address))\" is not a plain mail address (local@domain)")
    }
    return address
}
