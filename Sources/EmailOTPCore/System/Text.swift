/// Small string helpers: the core does not import Foundation. All of them work on bytes
/// (ByteText), never on Characters.
extension String {
    /// The string without leading and trailing spaces and tabs.
    package var trimmedBlanks: String {
        String(ByteText.trimmingBlanks(self))
    }

    /// True when the string holds a control character (C0, DEL, C1), CR and LF included.
    package var hasControlCharacters: Bool {
        ByteText.hasControl(self)
    }

    /// True when the string is non-empty and made of ASCII digits only.
    package var isASCIIDigits: Bool {
        !isEmpty && utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    /// Replaces every `{name}` whose name is a key of `values`; other braces stay as they are.
    /// The braces are found as bytes: a `}` followed by a combining mark still closes the name.
    package func expandingPlaceholders(_ values: [String: String]) -> String {
        var out = ""
        var rest = Substring(self)
        while let open = ByteText.firstIndex(of: 0x7B, in: rest) {
            out += rest[rest.startIndex..<open]
            let afterOpen = rest.utf8.index(after: open)
            let tail = rest[afterOpen...]
            if let close = ByteText.firstIndex(of: 0x7D, in: tail),
               let value = Self.placeholder(String(tail[tail.startIndex..<close]), in: values) {
                out += value
                rest = tail[tail.utf8.index(after: close)...]
            } else {
                out += "{"
                rest = tail
            }
        }
        return out + rest
    }

    /// The value of the key that is `name` byte for byte.
    static func placeholder(_ name: String, in values: [String: String]) -> String? {
        guard let value = values[name], values.keys.contains(where: { ByteText.same($0, name) }) else { return nil }
        return value
    }
}

/// Parses a decimal integer in `range`, without overflow (nil when out of range or not a number).
package func parseInteger(_ text: String, in range: ClosedRange<Int64>) -> Int64? {
    guard text.isASCIIDigits || (ByteText.hasPrefix(text, "-") && String(ByteText.droppingASCIIPrefix(text)).isASCIIDigits) else { return nil }
    guard let value = Int64(text), range.contains(value) else { return nil }
    return value
}

package enum Hex {
    package static let digits = Array("0123456789abcdef".utf8)

    package static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    package static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        var index = 0
        while index < chars.count {
            guard let high = value(chars[index]), let low = value(chars[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    package static func value(_ char: UInt8) -> UInt8? {
        switch char {
        case 0x30...0x39: return char - 0x30
        case 0x61...0x66: return char - 0x61 + 10
        case 0x41...0x46: return char - 0x41 + 10
        default: return nil
        }
    }
}
