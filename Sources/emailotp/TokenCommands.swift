import ArgumentParser
import EmailOTPAdmin
import EmailOTPCore
import Glibc

extension EmailOTP {
    struct Enroll: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enrol a user: mail address and PIN; or many users (--from, --group), without a PIN.",
            discussion: """
                A pending enrolment (--pending) has no PIN yet: the user's first login mails a code to the address, \
                and with pin=token asks the user to choose a PIN. Bulk enrolment (--from FILE, --group NAME) sets no PIN: \
                give --pending (each user chooses a PIN at the first login) or --no-pin (stacks with pin=none).
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The user (PAM_USER) to enrol (not with --from or --group).") var user: String?
        @Option(help: ArgumentHelp("The address the codes go to.", valueName: "addr")) var email: String?
        @Flag(help: "Store no address: address_command names it for each mail.") var addressFromCommand = false
        @Flag(help: "Read the PIN from the first line of standard input.") var pinStdin = false
        @Flag(help: "Enrol without a PIN (for stacks with pin=none).") var noPin = false
        @Flag(help: "Mail a code to the address and enrol only once it is answered.") var verify = false
        @Flag(help: "A pending enrolment: activated by the user's first login, which mails the code and asks for a PIN.") var pending = false
        @Option(help: ArgumentHelp("Enrol the users of FILE (- for standard input): one \"USER ADDRESS\" a line, USER alone with --address-from-command.", valueName: "file"))
        var from: String?
        @Option(help: ArgumentHelp("Enrol every member of group NAME, each with the address from address_command.", valueName: "name"))
        var group: String?

        var bulk: Bool { from != nil || group != nil }

        func validate() throws {
            if pinStdin && noPin { throw ValidationError("--pin-stdin and --no-pin exclude each other") }
            if pending && (pinStdin || verify) {
                throw ValidationError("--pending sets no PIN and mails no code now: the user's first login does both; drop --pin-stdin and --verify")
            }
            if bulk {
                if from != nil && group != nil { throw ValidationError("give either --from FILE or --group NAME") }
                if user != nil { throw ValidationError("no USER with --from or --group: the users come from the file or the group") }
                if email != nil { throw ValidationError("no --email with --from or --group: the addresses come from the file or address_command") }
                if verify || pinStdin {
                    throw ValidationError("--verify and --pin-stdin are for one user; bulk enrolment asks nothing")
                }
                if !pending && !noPin {
                    throw ValidationError("bulk enrolment sets no PIN: give --pending (each user chooses a PIN at the first login) "
                        + "or --no-pin (for stacks with pin=none)")
                }
                return
            }
            if user == nil { throw ValidationError("give the USER to enrol, or --from FILE or --group NAME") }
            if (email == nil) == !addressFromCommand {
                throw ValidationError("give either --email ADDR or --address-from-command")
            }
            if addressFromCommand && verify { throw ValidationError("--verify needs --email") }
        }

        func run() throws {
            if bulk { return try runBulk() }
            try EmailOTPTool.run {
                let user = try checkedUser(self.user ?? "")
                let address = try email.map(checkedAddress) ?? ""
                let admin = try global.tokenAdmin()
                try admin.requireNoToken(user)
                let pinHash = noPin || pending ? nil : try PINHash.make(Terminal.newPIN(fromStdin: pinStdin), random: OpenSSLRandom())
                if verify {
                    try verifyAddress(address, user: user, config: admin.config, store: admin.store, fromStdin: pinStdin)
                }
                try admin.enroll(user: user, email: address, pinHash: pinHash, pending: pending)
                let target = address.isEmpty ? "the address from address_command" : address
                print(pending ? "pending enrolment of \(user) with \(target): the first login activates it"
                      : "enrolled \(user) with \(target)\(noPin ? " (no PIN)" : "")")
            }
        }

        /// --from and --group: every entry checked first (a bad line: exit 65, nobody enrolled),
        /// then one line of report per user.
        func runBulk() throws {
            var conflicts = 0
            try EmailOTPTool.run {
                let admin = try global.tokenAdmin()
                let entries: [BulkEntry]
                do {
                    entries = try bulkEntries(config: admin.config)
                } catch let bad as BulkLineError {
                    printError("\(from.map { $0 == "-" ? "standard input" : $0 } ?? "group \(group ?? "")"), \(bad): nobody was enrolled")
                    throw ExitCode(65)
                }
                var counts = [BulkOutcome: Int]()
                for entry in entries {
                    let outcome = try admin.enroll(entry, pending: pending)
                    counts[outcome, default: 0] += 1
                    let target = entry.email.isEmpty ? "the address from address_command" : entry.email
                    switch outcome {
                    case .enrolled: print("\(entry.user): \(pending ? "pending enrolment" : "enrolled, no PIN"), codes to \(target)")
                    case .unchanged: print("\(entry.user): already enrolled with this address, unchanged")
                    case .conflict: print("\(entry.user): already has a token with another address, unchanged (see set-email)")
                    }
                }
                conflicts = counts[.conflict] ?? 0
                print("\(counts[.enrolled] ?? 0) enrolled, \(counts[.unchanged] ?? 0) unchanged, \(conflicts) with another address")
            }
            if conflicts > 0 { throw ExitCode(1) }
        }

        func bulkEntries(config: Config) throws -> [BulkEntry] {
            if let name = group {
                guard UnixName.isValid(name), let members = BulkEnrolment.members(ofGroup: name) else {
                    throw CLIError("no group \"\(LogText.printable(name))\" on this host")
                }
                let entries = try BulkEnrolment.entries(forMembers: members)
                try BulkEnrolment.checkAddresses(entries, config: config)
                return entries
            }
            let path = from ?? "-"
            let text: String
            do {
                // The list is the administrator's own file: a symbolic link to it is fine.
                let file: FileDescriptor
                do {
                    file = try path == "-" ? FileDescriptor.duplicateStandardInput()
                        : FileDescriptor.open(path, flags: O_RDONLY, followingLinks: true)
                } catch let error as SystemError {
                    throw CLIError("cannot read \(path): \(error.reason)")
                }
                let bytes = try file.readAll(limit: 64 << 20)
                guard let decoded = String(validating: bytes, as: UTF8.self) else { throw CLIError("\(path) is not UTF-8 text") }
                text = decoded
            } catch let error as CLIError {
                throw error
            } catch {
                throw CLIError("cannot read \(path): \(error)")
            }
            let entries = try BulkEnrolment.parse(text, fromCommand: addressFromCommand)
            try BulkEnrolment.checkAddresses(entries, config: config)
            return entries
        }

        /// Mails a code to the new address and asks for it back (the next stdin line with
        /// --pin-stdin, else on the terminal).
        func verifyAddress(_ address: String, user: String, config: Config, store: TokenStore, fromStdin: Bool) throws {
            let authenticator = PAMLogin.system(config: config, pinMode: .token, logger: StderrLogger(),
                                             context: RequestContext(service: "emailotp enroll", rhost: ""))
            let code: String
            do {
                code = try authenticator.mailVerificationCode(user: user, address: address)
            } catch {
                throw CLIError("the verification mail to \(address) failed: \(error)")
            }
            Console.writeError("A code was sent to \(address).\n")
            let answer: String
            if fromStdin {
                Console.writeError("Code: ")
                guard let line = Terminal.readLine() else { throw CLIError("no code on standard input") }
                Console.writeError("\n")
                answer = line
            } else {
                answer = try Terminal.readSecret("Code: ")
            }
            guard Digest.constantTimeEqual(Array(answer.trimmedBlanks.utf8), Array(code.utf8)) else {
                throw CLIError("wrong code: \(user) was not enrolled")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the enrolled users.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            try EmailOTPTool.run {
                let config = try global.loadConfig()
                let store = global.openStore(config)
                var records = [TokenRecord]()
                for user in try store.users() {
                    if let record = try store.read(user: user) { records.append(record.current(config)) }
                }
                if json {
                    print(JSON.array(records.map { .object($0.summaryJSON) }).text)
                    return
                }
                var rows = [["USER", "EMAIL", "STATE", "FAILS", "OPEN"]]
                for r in records {
                    let state = r.enabled && r.isLocked ? "locked" : r.stateName
                    rows.append([r.user, r.shownEmail, state, String(r.failCount), String(r.challenges.count)])
                }
                printTable(rows)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one user's token and open challenges.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The user whose token is shown.") var user: String
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            try EmailOTPTool.run {
                let user = try checkedUser(self.user)
                let config = try global.loadConfig()
                guard let r = try global.openStore(config).read(user: user)?.current(config) else {
                    throw CLIError("\(user) has no token")
                }
                // Only when and until when: the entries are keyed hashes of passwords.
                let now = SystemClock().now()
                let grants = r.cachedGrants.filter { !$0.isExpired(at: now) }
                if json {
                    print(JSON.object(r.summaryJSON + [("locked_at", r.isLocked ? .string(TimeFormat.iso8601(r.lockedAt)) : .null),
                                                       ("challenges", .array(r.challenges.map(\.json))),
                                                       ("auth_cache", .array(grants.map(\.json))),
                                                       ("sources", .array(r.sources.map(\.json))),
                                                       ("grant_scope", .string(config.grantHost == nil && config.storeIsDatabase ? "fleet" : "host"))]
                                     + r.recoveryJSON).text)
                    return
                }
                print("user:       \(r.user)")
                print("email:      \(r.shownEmail)")
                print("pin:        \(r.pinHash == nil ? "none" : "set")")
                print("state:      \(r.stateName)\(r.pending ? " (the first login activates it)" : "")")
                print("fail count: \(r.failCount)")
                print("locked:     \(r.isLocked ? "yes, since \(TimeFormat.local(r.lockedAt))" : "no")")
                print("sources:    \(r.sources.count) with failures, \(r.lockedSources) locked (max_fail_source)")
                for source in r.sources {
                    print("  \(source.id.prefix(12))  \(source.count) failure\(source.count == 1 ? "" : "s"), last \(TimeFormat.local(source.last))"
                        + (source.isLocked ? "  locked since \(TimeFormat.local(source.lockedAt))" : ""))
                }
                print("challenges: \(r.challenges.count) open")
                for c in r.challenges {
                    print("  \(c.transactionID)  expires \(TimeFormat.local(c.expires))  \(Messages.triesLeft(c.triesLeft))")
                }
                for line in r.recoveryLines { print(line) }
                print("auth_cache: \(grants.count) cached grant\(grants.count == 1 ? "" : "s")")
                for g in grants {
                    print("  granted \(TimeFormat.local(g.granted))  expires \(TimeFormat.local(g.expires))"
                        + (g.withoutRemoteHost ? "  (no remote host: good from every client of the service)" : ""))
                }
                print("grants:     remembered hosts and cached grants serve " + (!config.storeIsDatabase ? "this host only (its own store)"
                    : config.grantHost == nil ? "every host of the fleet (grant_scope = fleet)" : "the host that made them only (grant_scope = host)"))
            }
        }
    }

    struct SetPIN: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-pin", abstract: "Set a new PIN.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The user whose PIN is replaced (root; a user without root replaces their own).") var user: String?
        @Flag(help: "Read the PIN from the first line of standard input (root).") var pinStdin = false

        func run() throws {
            if OwnTokenClient.isUser {
                try OwnTokenClient.check(user: user, global: global, verb: "set-pin")
                guard !pinStdin else { throw ValidationError("--pin-stdin is root's: your own PIN is asked on the terminal") }
                try EmailOTPTool.run { try OwnTokenClient.run(.setPIN) }
                return
            }
            try EmailOTPTool.run {
                let user = try checkedUser(try rootsUser(self.user))
                let admin = try global.tokenAdmin()
                try admin.requireToken(user)
                let hash = try PINHash.make(Terminal.newPIN(fromStdin: pinStdin), random: OpenSSLRandom())
                try admin.setPIN(user: user, pinHash: hash)
                print("PIN of \(user) changed")
            }
        }
    }

    struct SetEmail: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-email",
                                                        abstract: "Change the address; open challenges, remembered hosts and cached grants are dropped.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The user whose address is replaced.") var user: String
        @Argument(help: "The new address the codes go to.") var address: String

        func run() throws {
            try EmailOTPTool.run {
                let user = try checkedUser(self.user)
                let address = try checkedAddress(self.address)
                try global.tokenAdmin().setEmail(user: user, address: address)
                print("address of \(user) is now \(address)")
            }
        }
    }
}

/// A verb that changes one user's token: the checked name, one call, one line printed.
struct StateCommand {
    static func run(_ global: GlobalOptions, _ user: String, done: String,
                    _ change: (TokenAdmin, String) throws -> Void) throws {
        try EmailOTPTool.run {
            let user = try checkedUser(user)
            try change(global.tokenAdmin(), user)
            print("\(user): \(done)")
        }
    }
}

extension EmailOTP {
    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a token: its logins are refused without mail.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The user whose token is disabled.") var user: String
        func run() throws {
            try StateCommand.run(global, user, done: "disabled") { try $0.disable(user: $1) }
        }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled token.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The user whose token is enabled again.") var user: String
        func run() throws {
            try StateCommand.run(global, user, done: "enabled") { try $0.enable(user: $1) }
        }
    }

    struct Reset: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Clear the fail count and the lock.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The user whose fail count and lock are cleared.") var user: String
        func run() throws {
            try StateCommand.run(global, user, done: "fail count and lock cleared") { try $0.reset(user: $1) }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a token and its challenges.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The user whose token is deleted.") var user: String
        func run() throws {
            try EmailOTPTool.run {
                let user = try checkedUser(self.user)
                try global.tokenAdmin().delete(user: user)
                print("deleted the token of \(user)")
            }
        }
    }
}

func printTable(_ rows: [[String]]) {
    guard let header = rows.first else { return }
    var widths = header.map(\.count)
    for row in rows {
        for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
    }
    for row in rows {
        var line = ""
        for (index, cell) in row.enumerated() {
            line += index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 2)
        }
        print(line)
    }
}

extension TokenRecord {
    /// The address for people: a token enrolled with --address-from-command has none stored.
    var shownEmail: String { email.isEmpty ? "(address_command)" : email }

    /// The record as the module would see it now (`TokenRecord.purge`: a lock past
    /// `unlock_time`, expired challenges and remembered hosts are gone). For display only;
    /// nothing is written.
    func current(_ config: Config) -> TokenRecord {
        var record = self
        record.purge(now: SystemClock().now(), config: config)
        return record
    }
}
