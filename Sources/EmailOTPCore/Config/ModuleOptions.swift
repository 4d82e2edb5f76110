public enum PINMode: String {
    case token, none
}

public enum FlowMode: String {
    case interactive, challenge
}

public enum FirstPass {
    case no, use, `try`
}

/// The module arguments of a PAM service line (SPEC §4).
public struct ModuleOptions {
    public var configPath = ConfigLoader.defaultPath
    public var configExplicit = false
    public var debug = false
    public var nullok = false
    public var pinMode = PINMode.token
    public var firstPass = FirstPass.no
    public var mode = FlowMode.interactive
    public var overrides: [(key: String, value: String)] = []
    /// The setuid helper that serves `mode=challenge` in a process that is not root.
    public var helperPath = HelperProtocol.defaultPath

    public init() {}

    /// Parses the arguments; an unknown one is an error (fail closed rather than guess).
    public init(arguments: [String]) throws {
        for argument in arguments {
            let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            let value = parts.count > 1 ? String(parts[1]) : nil
            switch (name, value) {
            case ("debug", nil): debug = true
            case ("nullok", nil): nullok = true
            case ("use_first_pass", nil): firstPass = .use
            case ("try_first_pass", nil): firstPass = .try
            case ("config", let path?):
                guard path.hasPrefix("/") else { throw ConfigError("config=\(ConfigKeys.printable(path)): not an absolute path") }
                configPath = path
                configExplicit = true
            case ("helper", let path?):
                guard path.hasPrefix("/"), !path.hasControlCharacters else { throw ConfigError("helper=\(ConfigKeys.printable(path)): not an absolute path") }
                helperPath = path
            case ("pin", let mode?):
                guard let parsed = PINMode(rawValue: mode) else { throw ConfigError("pin=\(ConfigKeys.printable(mode)): expected pin=token or pin=none") }
                pinMode = parsed
            case ("mode", let mode?):
                guard let parsed = FlowMode(rawValue: mode) else { throw ConfigError("mode=\(ConfigKeys.printable(mode)): expected mode=interactive or mode=challenge") }
                self.mode = parsed
            case (let key, let setting?) where ConfigKeys.all.contains(key):
                overrides.append((key, setting))
            default:
                throw ConfigError("unknown module argument \"\(ConfigKeys.printable(argument))\"")
            }
        }
    }
}
