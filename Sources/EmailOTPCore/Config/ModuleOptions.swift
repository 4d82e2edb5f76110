import EmailOTPSystem

public enum PINMode: String, CaseIterable {
    case token, none
}

package enum FlowMode: String {
    case interactive, challenge
}

public enum FirstPass {
    case no, use, `try`
}

/// The module arguments of a PAM service line (pam_emailotp(8), OPTIONS).
public struct ModuleOptions {
    package var configPath = ConfigLoader.defaultPath
    package var configExplicit = false
    package var debug = false
    package var nullok = false
    package var pinMode = PINMode.token
    package var firstPass = FirstPass.no
    package var mode = FlowMode.interactive
    package var overrides: [(key: String, value: String)] = []
    /// The setuid helper that runs the login, in both modes, outside a process whose caller
    /// chose its environment, limits and signals or that is not root (su, sudo, a web
    /// application; pam_emailotp(8), PROCESS MODEL): where the build's layout installs it (BuildLayout; /usr/local/libexec for install.sh, /usr/libexec
    /// for the Debian package). The `helper=` argument (read from root's PAM service file only)
    /// names another.
    package static let defaultHelperPath = BuildLayout.helperPath
    package var helperPath = ModuleOptions.defaultHelperPath

    package init() {}

    /// Parses the arguments; an unknown one is an error (fail closed rather than guess).
    package init(arguments: [String]) throws {
        for argument in arguments {
            let parts = ByteText.split(argument, at: 0x3D, maxSplits: 1)
            let name = String(parts[0])
            let value = parts.count > 1 ? String(parts[1]) : nil
            switch (name, value) {
            case ("debug", nil): debug = true
            case ("nullok", nil): nullok = true
            case ("use_first_pass", nil): firstPass = .use
            case ("try_first_pass", nil): firstPass = .try
            case ("config", let path?):
                guard ByteText.hasPrefix(path, "/") else { throw ConfigError("config=\(LogText.printable(path)): not an absolute path") }
                configPath = path
                configExplicit = true
            case ("helper", let path?):
                guard ByteText.hasPrefix(path, "/"), !path.hasControlCharacters else { throw ConfigError("helper=\(LogText.printable(path)): not an absolute path") }
                helperPath = path
            case ("pin", let mode?):
                guard let parsed = PINMode(rawValue: mode) else { throw ConfigError("pin=\(LogText.printable(mode)): expected pin=token or pin=none") }
                pinMode = parsed
            case ("mode", let mode?):
                guard let parsed = FlowMode(rawValue: mode) else { throw ConfigError("mode=\(LogText.printable(mode)): expected mode=interactive or mode=challenge") }
                self.mode = parsed
            case (let key, let setting?) where ByteText.isOne(key, of: ConfigKeys.all):
                overrides.append((key, setting))
            default:
                throw ConfigError("unknown module argument \"\(LogText.printable(argument))\"")
            }
        }
    }
}
