import EmailOTPCore

/// A small JSON writer: the command's `--json` outputs, keys in a fixed order.
indirect enum JSON {
    case string(String)
    case number(Int64)
    case bool(Bool)
    case null
    case array([JSON])
    case object([(String, JSON)])

    var text: String {
        switch self {
        case .string(let value): return JSON.quote(value)
        case .number(let value): return String(value)
        case .bool(let value): return value ? "true" : "false"
        case .null: return "null"
        case .array(let items): return "[" + items.map(\.text).joined(separator: ", ") + "]"
        case .object(let fields):
            return "{" + fields.map { "\(JSON.quote($0.0)): \($0.1.text)" }.joined(separator: ", ") + "}"
        }
    }

    static func quote(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

extension TokenRecord {
    /// The `list --json` object (docs/DESIGN.md).
    var summaryJSON: [(String, JSON)] {
        [("user", .string(user)), ("email", .string(email)), ("state", .string(stateName)),
         ("fail_count", .number(Int64(failCount))), ("locked", .bool(isLocked)), ("has_pin", .bool(pinHash != nil)),
         ("open_challenges", .number(Int64(challenges.count)))]
    }
}

extension Challenge {
    var json: JSON {
        .object([("transaction_id", .string(transactionID)), ("created", .string(TimeFormat.iso8601(created))),
                 ("expires", .string(TimeFormat.iso8601(expires))), ("tries_left", .number(Int64(triesLeft)))])
    }
}
