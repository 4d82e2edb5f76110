/// Text that goes into a log line. User names, rhost and service come from the person logging
/// in; a line break, a C1 control, a line/paragraph separator or a bidi override inside them
/// could forge a second log line or make a refusal read as a grant.
package enum LogText {
    /// The longest field kept, in Unicode scalars; a longer one is cut and marked.
    package static let maxFieldScalars = 80

    /// True for what must never reach a log unescaped: C0, DEL, C1, U+2028/2029 and every
    /// format character (bidi overrides and isolates, zero-width joiners, BOM, …).
    package static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 0x20 || (value >= 0x7F && value <= 0x9F) || value == 0x2028 || value == 0x2029 { return true }
        switch scalar.properties.generalCategory {
        case .format, .control, .lineSeparator, .paragraphSeparator, .surrogate, .unassigned, .privateUse:
            return true
        default:
            return false
        }
    }

    /// `value` with every character `needsEscape` names written as `\xNN` or `\u{NNNN}`.
    package static func escaped(_ value: String) -> String {
        var out = ""
        for scalar in value.unicodeScalars {
            if needsEscape(scalar) { out += escape(scalar) } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }

    /// A log field: escaped, `"` and `\` escaped too, in double quotes, at most
    /// `maxFieldScalars` scalars of the value followed by `…(truncated)` when cut.
    package static func quoted(_ value: String) -> String {
        var out = "\""
        var count = 0
        for scalar in value.unicodeScalars {
            if count == maxFieldScalars { return out + "\"…(truncated)" }
            count += 1
            if scalar == "\"" || scalar == "\\" {
                out += "\\"
                out.unicodeScalars.append(scalar)
            } else if needsEscape(scalar) {
                out += escape(scalar)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func escape(_ scalar: Unicode.Scalar) -> String {
        let digits = Array("0123456789ABCDEF")
        var hex = ""
        var value = scalar.value
        repeat {
            hex.insert(digits[Int(value & 0xF)], at: hex.startIndex)
            value >>= 4
        } while value > 0
        if scalar.value <= 0xFF {
            return "\\x" + (hex.count == 1 ? "0" + hex : hex)
        }
        return "\\u{" + hex + "}"
    }

    /// A value made safe to quote in an error message: its first 80 scalars, C0 and DEL as `?`.
    package static func printable(_ value: String) -> String {
        var out = ""
        for scalar in value.unicodeScalars.prefix(80) {
            if scalar.value < 0x20 || scalar.value == 0x7F { out += "?" } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }
}
