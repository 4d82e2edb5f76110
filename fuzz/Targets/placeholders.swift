// String.expandingPlaceholders against a plain reference: fields are the template, then
// name, value, name, value... (0xFF separated). A value is never expanded again.

/// The reference, over bytes: `{name}` (name up to the next `}` byte) whose name is a key byte
/// for byte becomes its value; any other `{` stays and scanning goes on right after it.
func reference(_ template: String, _ values: [String: String]) -> String {
    let bytes = Array(template.utf8)
    let table = values.map { (Array($0.key.utf8), Array($0.value.utf8)) }
    var out = [UInt8]()
    var index = 0
    while index < bytes.count {
        if bytes[index] == 0x7B, let close = bytes[(index + 1)...].firstIndex(of: 0x7D),
           let value = table.first(where: { $0.0 == Array(bytes[(index + 1)..<close]) })?.1 {
            out += value
            index = close + 1
        } else {
            out.append(bytes[index])
            index += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let fields = fuzzFields(data, size)
    let template = fields[0]
    var values = [String: String]()
    var index = 1
    while index + 1 < fields.count {
        values[fields[index]] = fields[index + 1]
        index += 2
    }
    let expanded = template.expandingPlaceholders(values)
    check(Array(expanded.unicodeScalars) == Array(reference(template, values).unicodeScalars),
          "expandingPlaceholders(\(shown(template))) = \(shown(expanded)), reference \(shown(reference(template, values)))")
    check(Array(template.expandingPlaceholders([:]).unicodeScalars) == Array(template.unicodeScalars),
          "no values, yet the template changed")
    if !values.values.contains(where: { $0.unicodeScalars.contains(where: isControl) })
        && !template.unicodeScalars.contains(where: isControl) {
        check(!expanded.unicodeScalars.contains(where: isControl), "control characters from nowhere")
    }
    return 0
}
