// SudoersRules: sudoers and one included file (fields split on 0xFF): no trap; every finding
// points at a line of a file that was read; without a timestamp_timeout setting there is
// exactly one note about the default.
@testable import EmailOTPAudit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let fields = fuzzFields(data, size)
    var files = FuzzFiles(files: ["/e/sudoers": fields[0]])
    if fields.count > 1 { files.files["/e/sudoers.d/x"] = fields[1] }
    guard let findings = try? SudoersRules.check(path: "/e/sudoers", files: files) else {
        check(false, "a file that exists could not be checked")
        return 0
    }
    files.checkPlaces(findings)
    let timestamp = findings.filter { $0.rule == "sudo-timestamp" }
    if !fields.joined().contains("timestamp_timeout") {
        check(timestamp.count == 1 && timestamp[0].line == 0, "default timestamp note")
    }
    return 0
}
