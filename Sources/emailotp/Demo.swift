import ArgumentParser
import CPAM
import EmailOTPCore
import Glibc

extension EmailOTP {
    /// `emailotp demo`: one real PAM transaction through the installed module, with a temporary
    /// store, configuration and Maildir, the prompts answered by this program.
    struct Demo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Log in once through the installed pam_emailotp.so, with no mail server, and show the conversation.",
            discussion: "It uses a temporary store, configuration and Maildir, and touches neither the real store nor /etc/pam.d.")
        @Option(help: ArgumentHelp("The module to load (default: pam_emailotp.so in the PAM module directory).", valueName: "path"))
        var module: String?
        @Flag(help: "Keep the temporary directory and print its path.") var keep = false
        /// `--config` and `--store` (before or after the verb) are refused, not ignored: the
        /// demo makes its own temporary configuration and store.
        @OptionGroup(visibility: .hidden) var global: GlobalOptions

        func validate() throws {
            if global.config != nil || global.store != nil {
                throw ValidationError("demo makes its own temporary configuration and store: --config and --store do not apply")
            }
        }

        /// /usr first: on a merged-/usr system (Debian 12 and 13) /lib is a link into it, and the
        /// path printed is the one the package and install.sh install to.
        static let moduleDirectories = ["/usr/lib/x86_64-linux-gnu/security", "/lib/x86_64-linux-gnu/security",
                                        "/usr/lib/aarch64-linux-gnu/security", "/lib/aarch64-linux-gnu/security",
                                        "/usr/lib64/security", "/lib64/security", "/usr/lib/security", "/lib/security"]

        func run() throws {
            try EmailOTPTool.run {
                guard ThisProcess.effectiveUser == 0 else { throw CLIError("emailotp must be run as root") }
                guard let modulePath = module ?? Self.moduleDirectories.map({ "\($0)/pam_emailotp.so" }).first(where: { SafeFile.permits($0, R_OK) }) else {
                    throw CLIError("pam_emailotp.so is not installed (run ./install.sh) and --module was not given")
                }
                let root: String
                do {
                    root = try SafeFile.makeTemporaryDirectory(prefix: "/tmp/emailotp-demo.")
                } catch let error as SystemError {
                    throw CLIError("mkdtemp failed: \(error.reason)")
                }
                defer {
                    if keep { print("kept \(root)") } else { SafeFile.removeTree(root) }
                }
                let succeeded = try runDemo(root: root, modulePath: modulePath)
                if !succeeded { throw ExitCode(1) }
            }
        }

        func runDemo(root: String, modulePath: String) throws -> Bool {
            let store = "\(root)/store", maildir = "\(root)/mail", confdir = "\(root)/pam.d"
            let configPath = "\(root)/emailotp.conf"
            let user = "demo", address = "demo@example.org", pin = "4711-demo"
            for directory in [store, confdir] where (try? SafeFile.makeDirectory(directory)) != true {
                throw CLIError("mkdir \(directory) failed")
            }
            try writeFile(configPath, """
                # emailotp demo: a temporary store and a Maildir instead of a mail server
                store = \(store)
                mail_transport = maildir:\(maildir)
                mail_sender = emailotp-demo@localhost

                """)
            try writeFile("\(confdir)/emailotp-demo", "auth required \(modulePath) config=\(configPath)\naccount required pam_permit.so\n")
            let config = try ConfigLoader().load(path: configPath, explicit: true)
            let hash = try PINHash.make(pin, random: OpenSSLRandom())
            try FileStore(directory: config.store, random: OpenSSLRandom(), clock: SystemClock()).update(user: user) { record in
                record = TokenRecord(user: user, email: address, pinHash: hash)
            }

            print("emailotp demo (pam_emailotp \(EmailOTPVersion.current)): a PAM login through \(modulePath)")
            print("  user \(user), token PIN \"\(pin)\", code mailed to \(address) (Maildir \(maildir))")
            print("  service file: auth required \(modulePath) config=\(configPath)")
            print("")
            let conversation = DemoConversation(pin: pin, maildir: "\(maildir)/new")
            let result = conversation.authenticate(service: "emailotp-demo", user: user, confdir: confdir)
            print("")
            let success = result == PAM_SUCCESS
            print("PAM result: \(conversation.resultText) (\(result))\(success ? " — logged in with PIN and emailed code" : "")")
            return success
        }

        func writeFile(_ path: String, _ text: String) throws {
            let fd = try FileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
            try fd.writeAll(Array(text.utf8))
        }
    }
}

/// Answers the module's prompts as a user would and prints the conversation.
final class DemoConversation {
    let pin: String
    let maildir: String
    var resultText = ""

    init(pin: String, maildir: String) {
        self.pin = pin
        self.maildir = maildir
    }

    func authenticate(service: String, user: String, confdir: String) -> Int32 {
        var conversation = pam_conv(conv: demoConversationCallback,
                                    appdata_ptr: Unmanaged.passUnretained(self).toOpaque())
        // The conversation and this object (its appdata) stay alive until pam_end.
        return withExtendedLifetime(self) {
            withUnsafePointer(to: &conversation) { conversationPointer in
                var handle: OpaquePointer? = nil
                let started = pam_start_confdir(service, user, conversationPointer, confdir, &handle)
                guard started == PAM_SUCCESS, let pamh = handle else {
                    resultText = "pam_start_confdir failed"
                    return started
                }
                // The demo plays a terminal login: with PAM_TTY set the module shows where the code
                // went as a message, as login and su do.
                _ = pam_set_item(pamh, PAM_TTY, "emailotp-demo")
                let result = pam_authenticate(pamh, 0)
                resultText = String(cString: pam_strerror(pamh, result))
                pam_end(pamh, result)
                return result
            }
        }
    }

    /// One answer for one message.
    func answer(style: Int32, text: String) -> String? {
        switch style {
        case PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON:
            if text.contains("PIN") {
                print("\(text)\(String(repeating: "*", count: pin.count))      [typed by the demo]")
                return pin
            }
            guard let (file, code) = latestCode() else {
                print("\(text)      [no mail found in \(maildir)]")
                return ""
            }
            print("      [mail delivered: \(file)]")
            print("\(text)\(code)      [read from the mail]")
            return code
        case PAM_ERROR_MSG:
            print("error: \(text)")
            return nil
        default:
            print(text)
            return nil
        }
    }

    /// The code in the newest message of the Maildir: the line that holds only digits.
    func latestCode() -> (String, String)? {
        guard let names = try? SafeFile.list(maildir), let newest = names.last else { return nil }
        let path = "\(maildir)/\(newest)"
        guard let fd = try? FileDescriptor.open(path, flags: O_RDONLY), let bytes = try? fd.readAll(limit: 1 << 20) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let trimmed = String(line).trimmedBlanks
            if line.hasPrefix("    ") && trimmed.isASCIIDigits && trimmed.count >= 6 && trimmed.count <= 10 {
                return (path, trimmed)
            }
        }
        return nil
    }
}

private let demoConversationCallback: @convention(c) (
    Int32, UnsafeMutablePointer<UnsafePointer<pam_message>?>?,
    UnsafeMutablePointer<UnsafeMutablePointer<pam_response>?>?, UnsafeMutableRawPointer?
) -> Int32 = { count, messages, responses, context in
    guard count > 0, let messages = messages, let responses = responses, let context = context,
          let replies = CMemory.allocateZeroed(pam_response.self, count: Int(count))
    else { return PAM_CONV_ERR }
    let demo = Unmanaged<DemoConversation>.fromOpaque(context).takeUnretainedValue()
    for index in 0..<Int(count) {
        guard let message = messages[index] else { continue }
        let text = message.pointee.msg.map { String(cString: $0) } ?? ""
        if let answer = demo.answer(style: message.pointee.msg_style, text: text) {
            replies[index].resp = CMemory.duplicate(answer)
        }
        replies[index].resp_retcode = 0
    }
    responses.pointee = replies
    return PAM_SUCCESS
}
