// AddressCommand.address(fromOutput:): what it accepts is a valid address equal to the output
// minus at most one final LF, with no CR or LF inside.
@testable import EmailOTPMail
@testable import EmailOTPSystem

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let address = try? AddressCommand.address(fromOutput: bytes, program: "/x") else { return 0 }
    check(EmailAddress.isValid(address), "accepted \(shown(address))")
    let body = bytes.last == 0x0A ? Array(bytes.dropLast()) : bytes
    check(Array(address.utf8) == body, "address differs from the output: \(shown(address))")
    check(!body.contains(0x0A) && !body.contains(0x0D), "accepted a line break")
    return 0
}
