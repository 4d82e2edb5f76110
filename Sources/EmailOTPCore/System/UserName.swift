/// Why a user name cannot be stored.
package struct BadUserName: Error, CustomStringConvertible, Equatable {
    package let reason: String
    package var description: String { "bad user name: \(reason)" }
}

/// The reversible mapping from a user name to a file name that cannot leave its directory.
package enum UserName {
    package static let maxBytes = 256
    /// The longest file name `encode` makes: the record is written through a temporary file
    /// `.<name>.tmp.<pid>` (pid up to 7 digits) that must fit NAME_MAX (255) too.
    package static let maxEncodedBytes = 255 - ".".utf8.count - ".tmp.".utf8.count - 7

    /// Refuses names that no login can have: empty, too long, control bytes.
    package static func validate(_ name: String) throws {
        if name.isEmpty { throw BadUserName(reason: "empty") }
        if name.utf8.count > maxBytes { throw BadUserName(reason: "longer than \(maxBytes) bytes") }
        if name.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { throw BadUserName(reason: "holds control characters") }
    }

    /// `A-Z a-z 0-9 _ -` stay; `.` and `@` stay except as the first byte; all else is `%XX`.
    package static func encode(_ name: String) throws -> String {
        try validate(name)
        var out = [UInt8]()
        for (index, byte) in name.utf8.enumerated() {
            switch byte {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x5F, 0x2D:
                out.append(byte)
            case 0x2E where index > 0, 0x40 where index > 0:
                out.append(byte)
            default:
                out.append(0x25)
                out.append(Array("0123456789ABCDEF".utf8)[Int(byte >> 4)])
                out.append(Array("0123456789ABCDEF".utf8)[Int(byte & 0x0F)])
            }
        }
        guard out.count <= maxEncodedBytes else {
            throw BadUserName(reason: "too long to store (its file name would be \(out.count) bytes, at most \(maxEncodedBytes))")
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The user name of a file name made by `encode`, or nil for any other name.
    package static func decode(_ file: String) -> String? {
        let bytes = Array(file.utf8)
        var out = [UInt8]()
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x25 {
                guard index + 2 < bytes.count, let high = Hex.value(bytes[index + 1]),
                      let low = Hex.value(bytes[index + 2]) else { return nil }
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(byte)
                index += 1
            }
        }
        let name = String(decoding: out, as: UTF8.self)
        guard Array(name.utf8) == out, (try? encode(name)) == file else { return nil }
        return name
    }
}
