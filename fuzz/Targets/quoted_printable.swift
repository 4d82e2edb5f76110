// MIMEEncoding.quotedPrintable: 7-bit lines of at most 76 characters, no trailing blanks, no
// "=_" (the MIME boundary starts with it, so a body can never contain the boundary), and it
// decodes back to the input.
@testable import EmailOTPMail

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = fuzzText(data, size)
    let encoded = MIMEEncoding.quotedPrintable(text)
    let bytes = Array(encoded.utf8)
    check(bytes.last == 0x0A, "output does not end in a line end")
    for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).dropLast() {
        check(line.count <= 76, "line of \(line.count) characters in \(shown(encoded))")
        check(line.allSatisfy { ($0 >= 0x21 && $0 <= 0x7E) || $0 == 0x20 || $0 == 0x09 }, "line holds a control or 8-bit byte")
        check(line.last != 0x20 && line.last != 0x09, "trailing blank in \(shown(encoded))")
    }
    check(!bytes.indices.dropLast().contains { bytes[$0] == 0x3D && bytes[$0 + 1] == 0x5F }, "output holds \"=_\"")
    check(decodeQuotedPrintable(encoded) == Array(text.utf8) + [0x0A], "does not decode back: \(shown(text)) → \(shown(encoded))")
    return 0
}
