// UserName.encode / decode: the user-name → file-name mapping must be reversible and must never
// yield a name that leaves the store directory or hides as a dot file.
@testable import EmailOTPSystem

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let name = fuzzText(data, size)

    // validate, restated: empty, over 256 bytes, or C0/DEL bytes are refused, all else is fine.
    let shouldRefuse = name.isEmpty || name.utf8.count > 256 || name.utf8.contains { $0 < 0x20 || $0 == 0x7F }
    let refused = (try? UserName.validate(name)) == nil
    check(refused == shouldRefuse, "validate(\(shown(name))) refused=\(refused)")

    if let file = try? UserName.encode(name) {
        check(!refused, "encode accepted a name validate refuses: \(shown(name))")
        check(UserName.decode(file) == name, "decode(encode(n)) != n for \(shown(name)) → \(shown(file))")
        check(!file.isEmpty && file.utf8.count <= 255, "encoded length \(file.utf8.count)")
        check(file != "." && file != ".." && !file.hasPrefix("."), "encoded name is a dot name: \(shown(file))")
        check(!file.utf8.contains(0x2F) && !file.utf8.contains(0), "encoded name holds / or NUL: \(shown(file))")
        check(file.utf8.allSatisfy { byte in
            switch byte {
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x5F, 0x2D, 0x2E, 0x40, 0x25: return true
            default: return false
            }
        }, "encoded name holds a byte outside A-Z a-z 0-9 _ - . @ %: \(shown(file))")
        check(!file.hasPrefix("@"), "encoded name starts with @: \(shown(file))")
    }

    // The other way: any file name that decodes is exactly the encoding of what it decodes to,
    // so one user has one file name (no "%61lice" beside "alice").
    if let decoded = UserName.decode(name) {
        check((try? UserName.encode(decoded)) == name, "decode(\(shown(name))) = \(shown(decoded)) does not encode back")
    }
    return 0
}
