import ArgumentParser
import EmailOTPAdmin
import EmailOTPCore
import Glibc

extension EmailOTP {
    struct StoreInit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "store-init",
            abstract: "Create or upgrade the PostgreSQL store's schema and the fleet's code key.",
            discussion: """
            Idempotent: a second run changes nothing. Run it with a role that may create tables \
            (--password-file names that role's password); the module's own role needs only the \
            rights printed at the end.
            """)
        @OptionGroup var global: GlobalOptions
        @Option(help: ArgumentHelp("The role the hosts' modules log in as, for the GRANT statements.", valueName: "role"))
        var role = "emailotp"
        @Option(help: ArgumentHelp("A root-only file holding this run's database password (overrides store_password_file).", valueName: "path"))
        var passwordFile: String?

        func run() throws {
            try EmailOTPTool.run {
                let config = try loadWithPassword(global, passwordFile)
                guard let store = global.openStore(config) as? PostgresStore else {
                    throw CLIError("store-init needs a postgresql:// store; the file store \(config.store) is made on first use")
                }
                let outcome = try PostgresSchema.initialise(store, random: OpenSSLRandom())
                switch outcome.previousVersion {
                case .none: print("created the emailotp schema version \(PostgresSchema.version)")
                case .some(let old) where old == PostgresSchema.version: print("the emailotp schema is up to date (version \(old))")
                case .some(let old): print("upgraded the emailotp schema from version \(old) to \(PostgresSchema.version)")
                }
                print(outcome.keyCreated ? "created the fleet's code key" : "kept the fleet's code key")
                print("-- rights of the module's role (run as the tables' owner):")
                for line in PostgresSchema.grants(role: role, database: outcome.database, schema: outcome.schema) { print(line) }
            }
        }
    }

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy every token of a file store into the configured store.",
            discussion: """
            Idempotent: users already in the configured store are skipped, never overwritten. Open \
            challenges are not copied (their codes are hashed with the old store's key).
            """)
        @OptionGroup var global: GlobalOptions
        @Option(help: ArgumentHelp("The file store to copy from.", valueName: "dir")) var from: String
        @Option(help: ArgumentHelp("A root-only file holding this run's database password (overrides store_password_file).", valueName: "path"))
        var passwordFile: String?

        func validate() throws {
            guard from.hasPrefix("/") else { throw ValidationError("--from needs the absolute path of a store directory") }
        }

        func run() throws {
            try EmailOTPTool.run {
                let config = try loadWithPassword(global, passwordFile)
                guard config.store != from else { throw CLIError("--from names the configured store itself") }
                let source = FileStore(directory: from, random: OpenSSLRandom(), clock: SystemClock(), lockTimeout: config.storeTimeout)
                guard try source.prepare(create: false) else { throw CLIError("\(from) is no store directory") }
                let admin = TokenAdmin(store: global.openStore(config), config: config)
                var copied = 0, skipped = 0, failed = 0
                for user in try source.users() {
                    do {
                        switch try admin.migrate(user: user, from: source) {
                        case .copied: copied += 1; print("copied \(user)")
                        case .skipped: skipped += 1; print("skipped \(user) (already in the store)")
                        case nil: continue
                        }
                    } catch {
                        failed += 1
                        printError("\(user): \(error)")
                    }
                }
                print("\(copied) copied, \(skipped) skipped, \(failed) failed")
                if failed > 0 { throw ExitCode(1) }
            }
        }
    }
}

/// The configuration, with `--password-file` in place of `store_password_file` when given.
func loadWithPassword(_ global: GlobalOptions, _ passwordFile: String?) throws -> Config {
    guard let path = passwordFile else { return try global.loadConfig() }
    guard path.hasPrefix("/") else { throw CLIError("--password-file needs an absolute path") }
    var overrides = [(key: String, value: String)]()
    if let store = global.store { overrides.append(("store", store)) }
    overrides.append(("store_password_file", path))
    return try ConfigLoader().load(path: global.config ?? ConfigLoader.defaultPath, explicit: global.config != nil,
                                   overrides: overrides)
}
