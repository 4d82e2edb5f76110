import EmailOTPSystem
import Glibc

/// Reads `emailotp.conf`, applies overrides (module arguments or command options) and resolves
/// the files it names. The module and the `emailotp` command share this code.
package struct ConfigLoader {
    /// /etc/security/emailotp.conf in both install.sh's and the package's layout (BuildLayout).
    package static let defaultPath = BuildLayout.configPath

    /// The owner every trusted file must have: root, except in unit tests.
    package var owner: uid_t

    package init(owner: uid_t = 0) {
        self.owner = owner
    }

    /// Loads the configuration. A missing file is the defaults when `explicit` is false and an
    /// error when it is true (the administrator named it).
    package func load(path: String = ConfigLoader.defaultPath, explicit: Bool = false,
                     overrides: [(key: String, value: String)] = []) throws -> Config {
        let text = try read(path, FilePolicy(owner: owner, forbiddenModeBits: 0o022, maxSize: 65536), naming: path)
        var config = Config()
        if let text = text {
            let entries = try Self.parse(text, source: path)
            if entries.contains(where: { $0.key == "mail_password" }) {
                try checkPasswordFileMode(path)
            }
            for entry in entries {
                do {
                    try ConfigKeys.apply(entry.key, entry.value, to: &config)
                } catch let error as ConfigError {
                    throw ConfigError("\(path):\(entry.line): \(error.message)")
                }
            }
        } else if explicit {
            throw ConfigError("\(path): no such configuration file")
        }
        for (key, value) in overrides {
            if key == "mail_password" {
                throw ConfigError("mail_password cannot be given as an argument (PAM service files are world-readable); use mail_password_file")
            }
            try ConfigKeys.apply(key, value, to: &config)
        }
        try resolveFiles(&config)
        try Self.checkConsistency(config)
        return config
    }

    /// Parses `key = value` lines; `#` lines and blank lines are skipped; a value may be quoted.
    package static func parse(_ text: String, source: String) throws -> [(key: String, value: String, line: Int)] {
        var entries = [(key: String, value: String, line: Int)]()
        var seen = Set<String>()
        var number = 0
        for line in ByteText.lines(text, droppingCR: true) {
            number += 1
            let trimmed = ByteText.trimmingBlanks(line)
            if trimmed.isEmpty || ByteText.hasPrefix(trimmed, "#") { continue }
            let parts = ByteText.split(trimmed, at: 0x3D, maxSplits: 1)
            guard parts.count == 2 else {
                throw ConfigError("\(source):\(number): expected \"key = value\"")
            }
            let key = String(ByteText.trimmingBlanks(parts[0]))
            let value = String(ByteText.unquoted(ByteText.trimmingBlanks(parts[1])))
            guard ByteText.isOne(key, of: ConfigKeys.all) else {
                throw ConfigError("\(source):\(number): unknown setting \"\(LogText.printable(key))\"")
            }
            guard !seen.contains(key) else {
                throw ConfigError("\(source):\(number): \(key) is set twice")
            }
            seen.insert(key)
            entries.append((key, value, number))
        }
        return entries
    }

    /// `path` read under `policy` (nil when missing); a refusal is a ConfigError naming `what`.
    func read(_ path: String, _ policy: FilePolicy, naming what: String) throws -> String? {
        do {
            return try SafeFile.readText(path, policy: policy)
        } catch {
            throw ConfigError("\(what): refused: \(error)")
        }
    }

    /// A file holding a password must not be readable by group or others.
    func checkPasswordFileMode(_ path: String) throws {
        let policy = FilePolicy(owner: owner, forbiddenModeBits: 0o077, maxSize: 65536)
        do {
            _ = try SafeFile.readText(path, policy: policy)
        } catch {
            throw ConfigError("\(path): refused: it holds mail_password, so it must be mode 0600 (\(error))")
        }
    }

    func resolveFiles(_ config: inout Config) throws {
        if !config.mailPasswordFile.isEmpty {
            config.mailPassword = try readSecret("mail_password_file", config.mailPasswordFile)
        }
        if !config.storePasswordFile.isEmpty {
            config.storePassword = try readSecret("store_password_file", config.storePasswordFile)
        }
        let templatePolicy = FilePolicy(owner: owner, forbiddenModeBits: 0o022, maxSize: 65536)
        for (key, path, isHTML) in [("mail_template", config.mailTemplate, false),
                                    ("mail_html_template", config.mailHTMLTemplate, true)] where !path.isEmpty {
            guard let body = try read(path, templatePolicy, naming: key) else { throw ConfigError("\(key): \(path) does not exist") }
            if isHTML { config.htmlTemplate = body } else { config.textTemplate = body }
        }
    }

    /// A root-only file holding one password line.
    func readSecret(_ key: String, _ path: String) throws -> String {
        let password = try read(path, FilePolicy(owner: owner, forbiddenModeBits: 0o077, maxSize: 4096), naming: key)
        guard let content = password else {
            throw ConfigError("\(key): \(path) does not exist")
        }
        let secret = String(ByteText.droppingSuffix(content, bytes: [ByteText.lineFeed, ByteText.carriageReturn]))
        guard !secret.isEmpty, !secret.hasControlCharacters else {
            throw ConfigError("\(key): \(path) must hold the password on one line")
        }
        return secret
    }

    /// Rules that involve several settings.
    package static func checkConsistency(_ config: Config) throws {
        if !config.mailPassword.isEmpty && config.mailUser.isEmpty {
            throw ConfigError("a mail password is set but mail_user is empty")
        }
        // Without TLS the password may only go to a port that no ordinary local user can bind
        // while the relay is down.
        if !config.mailPassword.isEmpty && config.mailTLS == .none && config.mailTransport == .smtp
            && !config.plaintextGoesToPrivilegedLoopback {
            throw ConfigError("refusing to send the mail password unencrypted to \(config.mailServer):\(config.effectivePort): "
                + "without TLS, AUTH is allowed only to a port below 1024 on loopback; set mail_tls = starttls or tls")
        }
    }
}
