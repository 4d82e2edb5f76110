import ArgumentParser
import EmailOTPCore
import Glibc

struct SendTest: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "send-test",
                                                    abstract: "Send a test mail with the configured transport.")
    @OptionGroup var global: GlobalOptions
    @Argument var address: String

    func run() throws {
        try EmailOTPTool.run {
            let address = try checkedAddress(self.address)
            let config = try global.loadConfig()
            let mail = try MailComposer(config: config, random: OpenSSLRandom())
                .composeTest(to: address, host: Host.name(), date: SystemClock().now())
            let route = config.transportDescription
            do {
                try makeMailer(config).send(mail)
            } catch {
                throw CLIError("test mail to \(address) via \(route) failed: \(error)")
            }
            print("test mail to \(address) accepted by \(route)")
        }
    }
}

struct ConfigCheck: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "config-check",
                                                    abstract: "Validate the configuration, its permissions and the store.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var stacks: StackCheckOptions

    func run() throws {
        if stacks.json { return try stacks.runJSON(global) }
        try EmailOTPTool.run {
            let path = global.config ?? ConfigLoader.defaultPath
            let config = try global.loadConfig()
            if case .sendmail = config.mailTransport, access(config.sendmailPath, X_OK) != 0 {
                throw CLIError("sendmail_path: \(config.sendmailPath) is not an executable program")
            }
            do {
                if try !global.openStore(config).prepare(create: false) {
                    print("note: the store \(config.store) does not exist yet; it is made on first use")
                }
            } catch {
                throw CLIError("store: \(error)")
            }
            print("configuration OK: \(path)")
        }
        try stacks.run(global)
    }
}
