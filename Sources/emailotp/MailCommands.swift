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

    func run() throws {
        try EmailOTPTool.run {
            let path = global.config ?? ConfigLoader.defaultPath
            let config = try global.loadConfig()
            if case .sendmail = config.mailTransport, access(config.sendmailPath, X_OK) != 0 {
                throw CLIError("sendmail_path: \(config.sendmailPath) is not an executable program")
            }
            if config.mailTransport == .smtp && config.mailTLS == .none && config.effectivePort >= 1024 {
                // The code itself is the secret: any local user can bind an unprivileged port
                // while the relay is down and read it.
                print("warning: mail goes unencrypted to \(config.mailServer):\(config.effectivePort), a port any local user "
                    + "can bind while the relay is down; use a port below 1024 or mail_tls = starttls or tls")
            }
            do {
                let store = global.openStore(config)
                if let files = store as? FileStore, try !files.prepare(create: false) {
                    print("note: the store \(config.store) does not exist yet; it is made on first use")
                } else if store is PostgresStore {
                    _ = try store.codeKey()
                    print("database store reachable: schema \(PostgresSchema.version), \(try store.users().count) tokens")
                }
            } catch {
                throw CLIError("store: \(error)")
            }
            print("configuration OK: \(path)")
        }
    }
}
