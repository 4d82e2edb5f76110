import ArgumentParser
import EmailOTPAdmin
import EmailOTPCore

extension EmailOTP {
    struct RecoveryCodes: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "recovery-codes",
            abstract: "Print fresh single-use recovery codes, one a line, replacing the previous set.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The user whose recovery codes are replaced (root; a user without root replaces their own).") var user: String?
        @Option(help: ArgumentHelp("How many codes (1 to \(RecoveryCode.maxCount)).", valueName: "n")) var count = 10

        func validate() throws {
            guard (1...RecoveryCode.maxCount).contains(count) else {
                throw ValidationError("--count must be from 1 to \(RecoveryCode.maxCount)")
            }
        }

        func run() throws {
            if OwnTokenClient.isUser {
                try OwnTokenClient.check(user: user, global: global, verb: "recovery-codes")
                try EmailOTPTool.run { try OwnTokenClient.run(.recoveryCodes(count: count)) }
                return
            }
            try EmailOTPTool.run {
                let user = try checkedUser(try rootsUser(self.user))
                let codes = try global.tokenAdmin().replaceRecoveryCodes(user: user, count: count, random: OpenSSLRandom())
                for code in codes { print(code) }
            }
        }
    }

    struct Forget: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drop every remembered remote host and cached grant (auth_cache) of a user.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The user whose remembered hosts and cached grants are dropped (root; a user without root forgets their own).")
        var user: String?

        func run() throws {
            if OwnTokenClient.isUser {
                try OwnTokenClient.check(user: user, global: global, verb: "forget")
                try EmailOTPTool.run { try OwnTokenClient.run(.forget) }
                return
            }
            try EmailOTPTool.run {
                let user = try checkedUser(try rootsUser(self.user))
                let (dropped, grants) = try global.tokenAdmin().forget(user: user)
                print("\(user): forgot \(dropped) remembered host\(dropped == 1 ? "" : "s") "
                    + "and \(grants) cached grant\(grants == 1 ? "" : "s") (auth_cache)")
            }
        }
    }
}

extension TokenRecord {
    /// The lines of `emailotp show` for recovery codes and remembered hosts (ids: the store
    /// keeps keyed hashes, not host names).
    var recoveryLines: [String] {
        var lines = ["recovery:   \(recoveryHashes.count) code\(recoveryHashes.count == 1 ? "" : "s") left",
                     "remembered: \(remembered.count) host\(remembered.count == 1 ? "" : "s")"]
        for host in remembered {
            lines.append("  \(host.id.prefix(16))  since \(TimeFormat.local(host.created))  expires \(TimeFormat.local(host.expires))")
        }
        return lines
    }

    var recoveryJSON: [(String, JSON)] {
        [("recovery_codes_left", .number(Int64(recoveryHashes.count))),
         ("remembered_hosts", .array(remembered.map {
             .object([("id", .string(String($0.id.prefix(16)))), ("created", .string(TimeFormat.iso8601($0.created))),
                      ("expires", .string(TimeFormat.iso8601($0.expires)))])
         }))]
    }
}
