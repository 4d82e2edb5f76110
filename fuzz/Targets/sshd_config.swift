// SSHDConfigRules: an sshd_config and one included file (fields split on 0xFF): no trap;
// every finding points at a line of a file that was read; UsePAM is always judged.
@testable import EmailOTPAudit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let fields = fuzzFields(data, size)
    var files = FuzzFiles(files: ["/s/sshd_config": fields[0]])
    if fields.count > 1 { files.files["/s/inc.conf"] = fields[1] }
    guard let findings = try? SSHDConfigRules.check(path: "/s/sshd_config", files: files) else {
        check(false, "a file that exists could not be checked")
        return 0
    }
    files.checkPlaces(findings)
    return 0
}
