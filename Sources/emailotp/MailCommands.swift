import ArgumentParser
import EmailOTPAdmin
import EmailOTPCore
import Glibc

extension EmailOTP {
    struct SendTest: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "send-test",
                                                        abstract: "Send a test mail with the configured transport.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The address the test message goes to.") var address: String

        func run() throws {
            try EmailOTPTool.run {
                let address = try checkedAddress(self.address)
                let config = try global.loadConfig()
                let mail = try MailComposer(config: config, random: OpenSSLRandom())
                    .composeTest(to: address, host: Host.name(), date: SystemClock().now())
                let route = config.transportDescription
                do {
                    try makeMailer(config, clock: SystemClock(), random: OpenSSLRandom()).send(mail)
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
                if case .sendmail = config.mailTransport, !SafeFile.permits(config.sendmailPath, X_OK) {
                    throw CLIError("sendmail_path: \(config.sendmailPath) is not an executable program")
                }
                if config.mailTransport == .smtp && config.mailTLS == .none && config.effectivePort >= 1024 {
                    // The code itself is the secret: any local user can bind an unprivileged port
                    // while the relay is down and read it.
                    print("warning: mail goes unencrypted to \(config.mailServer):\(config.effectivePort), a port any local user "
                        + "can bind while the relay is down; use a port below 1024 or mail_tls = starttls or tls")
                }
                if let note = try global.probeStore(config) { print(note) }
                print("configuration OK: \(path)")
            }
            try stacks.run(global)
        }
    }
}
