// EmailAddress.isValid / masked: a valid address goes into headers and SMTP commands as it is,
// so it can hold nothing that splits or reshapes a header or a command.
@testable import EmailOTPSystem

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let address = fuzzText(data, size)
    let masked = EmailAddress.masked(address)   // any input: must not crash
    guard EmailAddress.isValid(address) else { return 0 }

    let bytes = Array(address.utf8)
    check(bytes.count <= 254, "valid address over 254 bytes")
    check(bytes.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "valid address holds a control, space or non-ASCII byte: \(shown(address))")
    for forbidden in Array("<>,;:\"()[]\\ \r\n".utf8) {
        check(!bytes.contains(forbidden), "valid address holds \(shown(String(UnicodeScalar(forbidden)))): \(shown(address))")
    }
    let at = bytes.split(separator: 0x40, omittingEmptySubsequences: false)
    check(at.count == 2 && !at[0].isEmpty && !at[1].isEmpty && at[0].count <= 64, "not local@domain: \(shown(address))")
    let local = at[0], domain = at[1]
    check(local.first != 0x2E && local.last != 0x2E && domain.first != 0x2E && domain.last != 0x2E
          && !address.contains(".."), "dot at an edge or doubled: \(shown(address))")
    check(domain.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D || $0 == 0x2E },
          "domain holds more than letters, digits, - and .: \(shown(address))")

    // The mask keeps the first byte of the local part and the top-level domain, hides the rest,
    // and does not tell how long the local part is.
    check(masked.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "masked form holds a control or space: \(shown(masked))")
    check(Array(masked.utf8.prefix(5)) == [local[local.startIndex]] + Array("***@".utf8), "masked \(shown(masked))")
    let maskedDomain = Array(masked.utf8.dropFirst(5))
    check(maskedDomain.count == domain.count && maskedDomain.first == domain.first, "masked domain \(shown(masked))")
    if let dot = domain.lastIndex(of: 0x2E) {
        check(maskedDomain.suffix(domain.endIndex - dot) == domain[dot...], "masked domain loses the TLD: \(shown(masked))")
        check(maskedDomain.dropFirst().dropLast(domain.endIndex - dot).allSatisfy { $0 == 0x2A }, "masked domain shows \(shown(masked))")
    }
    let shorter = String(decoding: [local[local.startIndex], 0x40] + domain, as: UTF8.self)
    check(EmailAddress.masked(shorter) == masked, "the mask shows how long the local part is: \(shown(masked))")
    return 0
}
