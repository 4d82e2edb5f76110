import EmailOTPSystem

/// The time limits of clients that end a login while the user waits for the mail: login's
/// `LOGIN_TIMEOUT` (login.defs), Cockpit's `response-timeout` (cockpit.conf) and sshd's
/// `LoginGraceTime`. Each must leave room for a mail's round trip plus typing the code.
package enum ClientTimeouts {
    /// Below this many seconds a user who waits for a slow mail is cut off.
    package static let minimum: Int64 = 120

    /// `LOGIN_TIMEOUT` of login.defs (login(1) uses 60 when it is not set).
    package static func login(defs path: String, text: String?) -> [Finding] {
        var value: (seconds: Int64, line: Int)? = nil
        for (number, raw) in numberedLines(text ?? "") {
            let fields = blankSeparated(raw.trimmedBlanks)
            guard fields.count >= 2, ByteText.same(fields[0], "LOGIN_TIMEOUT") else { continue }
            value = parseInteger(fields[1], in: 0...Int64(Int32.max)).map { ($0, number) }
        }
        let seconds = value?.seconds ?? 60
        guard seconds > 0 && seconds < minimum else { return [] }
        let setting = value == nil ? "LOGIN_TIMEOUT is not set (login waits 60 s)" : "LOGIN_TIMEOUT \(seconds)"
        return [Finding("login-timeout", .note, file: path, line: value?.line ?? 0,
                        "\(setting): login gives up before a slow mail arrives; set LOGIN_TIMEOUT \(minimum * 5 / 2) or more",
                        services: ["login"])]
    }

    /// `response-timeout` in the `[basic]` section of cockpit.conf (Cockpit waits 60 s).
    package static func cockpit(conf path: String, text: String?) -> [Finding] {
        var section = ""
        var value: (seconds: Int64, line: Int)? = nil
        for (number, raw) in numberedLines(text ?? "") {
            let line = raw.trimmedBlanks
            if line.isEmpty || ByteText.hasPrefix(line, "#") || ByteText.hasPrefix(line, ";") { continue }
            if ByteText.hasPrefix(line, "[") {
                section = ByteText.asciiLowercased(String(ByteText.droppingASCIIPrefix(line)).split(separator: "]").first.map(String.init) ?? "")
                continue
            }
            let parts = ByteText.split(line, at: 0x3D, maxSplits: 1)
            guard parts.count == 2, section == "basic",
                  ByteText.asciiLowercased(String(parts[0]).trimmedBlanks) == "response-timeout" else { continue }
            value = parseInteger(String(parts[1]).trimmedBlanks, in: 0...Int64(Int32.max)).map { ($0, number) }
        }
        let seconds = value?.seconds ?? 60
        guard seconds < minimum else { return [] }
        let setting = value == nil ? "[basic] response-timeout is not set (Cockpit waits 60 s)" : "[basic] response-timeout = \(seconds)"
        return [Finding("cockpit-response-timeout", .note, file: path, line: value?.line ?? 0,
                        "\(setting): Cockpit ends the login before a slow mail arrives; set response-timeout = 300 under [basic]",
                        services: ["cockpit"])]
    }

    /// sshd's `LoginGraceTime` value in seconds (`90`, `2m`, `1h30m`); nil when malformed.
    package static func sshdSeconds(_ value: String) -> Int64? {
        var total: Int64 = 0
        var digits = ""
        for character in ByteText.asciiLowercased(value) {
            if character.isASCII && character.isNumber {
                digits.append(character)
                continue
            }
            let unit: Int64
            switch character {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86400
            case "w": unit = 604800
            default: return nil
            }
            guard let number = parseInteger(digits, in: 0...Int64(Int32.max)) else { return nil }
            total += number * unit
            digits = ""
        }
        if !digits.isEmpty {
            guard let number = parseInteger(digits, in: 0...Int64(Int32.max)) else { return nil }
            total += number
        }
        return total
    }
}
