// ModuleOptions(arguments:): the arguments of a PAM service line (fields separated by 0xFF;
// argv strings end at NUL). What it accepts is exactly the documented forms, and the overrides
// it passes on keep every Config invariant once applied.
@testable import EmailOTPConfig

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let arguments = fuzzFields(data, size).map { argument -> String in
        guard let nul = argument.utf8.firstIndex(of: 0) else { return argument }
        return String(decoding: argument.utf8[..<nul], as: UTF8.self)
    }
    guard let options = try? ModuleOptions(arguments: arguments) else { return 0 }

    // Restated over bytes: flags alone, or name=value with a known name.
    var overrides = [(key: String, value: String)]()
    var configPath = ConfigLoader.defaultPath
    for argument in arguments {
        if ["debug", "nullok", "use_first_pass", "try_first_pass"].contains(argument) { continue }
        guard let equals = argument.utf8.firstIndex(of: 0x3D) else {
            check(false, "accepted \(shown(argument))")
            return 0
        }
        let name = String(decoding: argument.utf8[..<equals], as: UTF8.self)
        let value = String(decoding: argument.utf8[argument.utf8.index(after: equals)...], as: UTF8.self)
        switch name {
        case "config":
            check(value.utf8.first == 0x2F, "accepted config=\(shown(value))")
            configPath = value
        case "helper":
            check(value.utf8.first == 0x2F && !value.unicodeScalars.contains(where: isControl), "accepted helper=\(shown(value))")
        case "pin": check(value == "token" || value == "none", "accepted pin=\(shown(value))")
        case "mode": check(value == "interactive" || value == "challenge", "accepted mode=\(shown(value))")
        default:
            check(ConfigKeys.all.contains(name), "accepted unknown argument \(shown(argument))")
            overrides.append((name, value))
        }
    }
    check(options.configPath == configPath, "config path \(shown(options.configPath))")
    check(options.overrides.map(\.key) == overrides.map(\.key)
          && options.overrides.map(\.value) == overrides.map(\.value), "overrides differ")
    check(options.debug == arguments.contains("debug") && options.nullok == arguments.contains("nullok"), "flags")

    // ConfigLoader.load refuses mail_password here, then applies the rest in order.
    guard !options.overrides.contains(where: { $0.key == "mail_password" }) else { return 0 }
    var config = Config()
    for (key, value) in options.overrides {
        guard (try? ConfigKeys.apply(key, value, to: &config)) != nil else { return 0 }
    }
    checkConfigInvariants(config)
    return 0
}
