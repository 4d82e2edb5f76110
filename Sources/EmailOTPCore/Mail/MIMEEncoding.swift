import EmailOTPSystem

/// The encodings a MIME message needs, without Foundation.
package enum MIMEEncoding {
    static let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func base64(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        var index = 0
        while index < bytes.count {
            let b0 = bytes[index]
            let b1 = index + 1 < bytes.count ? bytes[index + 1] : 0
            let b2 = index + 2 < bytes.count ? bytes[index + 2] : 0
            out.append(base64Alphabet[Int(b0 >> 2)])
            out.append(base64Alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(index + 1 < bytes.count ? base64Alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : 0x3D)
            out.append(index + 2 < bytes.count ? base64Alphabet[Int(b2 & 0x3F)] : 0x3D)
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A header value: as it is when printable ASCII, else RFC 2047 `=?UTF-8?B?...?=` words.
    static func headerWord(_ text: String) -> String {
        // Plain ASCII stays as it is while it fits a header line (RFC 5322 allows 998); longer
        // values (a template repeating a long user name) are folded as encoded words.
        if text.utf8.count <= 900 && text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return text }
        var words = [String]()
        var chunk = [UInt8]()
        // Cut only before a byte that starts a scalar: RFC 2047 asks for whole code points per
        // word, and one Character (a letter with many combining marks) can exceed 39 bytes.
        let bytes = Array(text.utf8)
        var start = 0
        while start < bytes.count {
            var end = start + 1
            while end < bytes.count && !ByteText.startsScalar(bytes[end]) { end += 1 }
            // 39 bytes → 52 base64 characters: "Subject: " plus one encoded word stays within
            // RFC 2047's 76-character line.
            if chunk.count + (end - start) > 39 {
                words.append("=?UTF-8?B?\(base64(chunk))?=")
                chunk = []
            }
            chunk += bytes[start..<end]
            start = end
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?\(base64(chunk))?=") }
        return words.joined(separator: "\r\n ")
    }

    /// Quoted-printable (RFC 2045) of UTF-8 text with `\n` line ends; output lines end in `\n`.
    package static func quotedPrintable(_ text: String) -> String {
        var out = ""
        let hex = Array("0123456789ABCDEF".utf8)
        for line in ByteText.lines(text) {
            var encoded = [UInt8]()
            var width = 0
            let bytes = Array(line.utf8)
            for (index, byte) in bytes.enumerated() {
                let last = index == bytes.count - 1
                var piece: [UInt8]
                if (byte >= 33 && byte <= 126 && byte != 61) || ((byte == 32 || byte == 9) && !last) {
                    piece = [byte]
                } else {
                    piece = [61, hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
                }
                if width + piece.count > 75 {
                    encoded += Array("=\n".utf8)
                    width = 0
                }
                encoded += piece
                width += piece.count
            }
            out += String(decoding: encoded, as: UTF8.self) + "\n"
        }
        return out
    }

    /// `& < > " '` as entities, found as bytes: a `<` followed by a combining mark is one
    /// Character that is not `"<"`, and must be escaped all the same.
    static func htmlEscaped(_ text: String) -> String {
        var out = [UInt8]()
        for byte in text.utf8 {
            switch byte {
            case 0x26: out += Array("&amp;".utf8)
            case 0x3C: out += Array("&lt;".utf8)
            case 0x3E: out += Array("&gt;".utf8)
            case 0x22: out += Array("&quot;".utf8)
            case 0x27: out += Array("&#39;".utf8)
            default: out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
