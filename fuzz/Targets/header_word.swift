// MIMEEncoding.headerWord: printable ASCII stays as it is; anything else becomes RFC 2047
// encoded words joined by "\r\n " folding only, each short enough for "Subject: " plus the word
// to fit a 76-character line, each holding whole characters, together decoding to the input.
@testable import EmailOTPMail

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = fuzzText(data, size)
    let word = MIMEEncoding.headerWord(text)
    if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) {
        check(word == text, "printable ASCII was changed")
        return 0
    }
    let bytes = Array(word.utf8)
    // Remove the folds; what is left must hold no CR or LF at all.
    var unfolded = [UInt8]()
    var index = 0
    while index < bytes.count {
        if bytes[index] == 0x0D && index + 2 < bytes.count && bytes[index + 1] == 0x0A && bytes[index + 2] == 0x20 {
            unfolded.append(0x20)
            index += 3
        } else {
            check(bytes[index] != 0x0D && bytes[index] != 0x0A, "bare CR or LF in \(shown(word))")
            check(bytes[index] >= 0x21 && bytes[index] <= 0x7E, "control, blank or 8-bit byte in \(shown(word))")
            unfolded.append(bytes[index])
            index += 1
        }
    }
    var decoded = [UInt8]()
    for piece in String(decoding: unfolded, as: UTF8.self).split(separator: " ", omittingEmptySubsequences: false) {
        check(piece.hasPrefix("=?UTF-8?B?") && piece.hasSuffix("?=") && piece.utf8.count >= 12, "not an encoded word: \(shown(String(piece)))")
        check(piece.utf8.count <= 76 - "Subject: ".utf8.count, "encoded word of \(piece.utf8.count) characters for \(shown(text))")
        guard let chunk = decodeBase64(piece.dropFirst(10).dropLast(2)) else {
            check(false, "bad base64 in \(shown(String(piece)))")
            return 0
        }
        check(!chunk.isEmpty, "empty encoded word")
        check(String(validating: chunk, as: UTF8.self) != nil, "an encoded word splits a character: \(shown(String(piece)))")
        decoded += chunk
    }
    check(decoded == Array(text.utf8), "does not decode back: \(shown(text)) → \(shown(word))")
    return 0
}
