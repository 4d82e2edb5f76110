import ArgumentParser
import EmailOTPCore

/// `emailotp forget USER`: drops what the module remembers for a user beyond the token, so
/// that the next login needs a fresh code everywhere.
struct Forget: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Drop a user's cached grants (auth_cache): the next login needs a new code.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The user.") var user: String

    func run() throws {
        try EmailOTPTool.run {
            let user = try checkedUser(self.user)
            let config = try global.loadConfig()
            var dropped = 0
            try modify(global.openStore(config), user) { record in
                dropped = record.cachedGrants.count
                record.cachedGrants = []
            }
            print("forgot \(dropped) cached grant\(dropped == 1 ? "" : "s") (auth_cache) of \(user)")
        }
    }
}

extension CachedGrant {
    var json: JSON {
        .object([("granted", .string(TimeFormat.iso8601(granted))), ("expires", .string(TimeFormat.iso8601(expires)))])
    }
}
