// PAMStackReader + PAMStackRules: a service file and two files it may include (fields split on
// 0xFF): no trap, whatever the controls, jumps, includes and loops; every finding points at a
// line of a file that was read; each rule's module line is a pam_emailotp line.
@testable import EmailOTPAudit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let fields = fuzzFields(data, size)
    var files = FuzzFiles(files: ["/p/svc": fields[0]])
    if fields.count > 1 { files.files["/p/a"] = fields[1] }
    if fields.count > 2 { files.files["/p/b"] = fields[2] }
    var reader = PAMStackReader(directory: "/p", files: files)
    guard let stack = try? reader.stack(service: "svc") else { return 0 }
    let findings = PAMStackRules.check(service: "svc", stack: stack) + reader.findings
    files.checkPlaces(findings)
    if !PAMStackRules.usesModule(stack) {
        check(findings.allSatisfy { ["include-missing", "include-loop", "bad-control"].contains($0.rule) },
              "a stack without the module has module findings")
    }
    for word in PAMStackReader.words(fields[0]) {
        check(!word.isEmpty, "empty word")
    }
    return 0
}
