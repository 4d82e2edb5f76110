// MailComposer.compose: fields (0xFF separated) are subject template, text template, HTML
// template, user, address, service, rhost, host, transaction id, code, sender, validity.
// Whatever goes in, an accepted message has a header block of known headers, one per line
// (folded only inside Subject), with no CR or other control byte; bodies are quoted-printable
// that cannot contain the boundary and decode to the expanded templates.
@testable import EmailOTPConfig
@testable import EmailOTPMail
@testable import EmailOTPSystem

let headerOrder = ["Date", "From", "To", "Subject", "Message-ID", "MIME-Version", "Auto-Submitted",
                   "X-EmailOTP-Transaction-Id", "Content-Type"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var fields = fuzzFields(data, size)
    while fields.count < 12 { fields.append("") }
    var config = Config()
    config.mailSubject = fields[0].isEmpty ? config.mailSubject : fields[0]
    config.textTemplate = fields[1]
    config.htmlTemplate = fields[2]
    config.mailSender = fields[10].isEmpty ? "otp@example.org" : fields[10]
    let created: Int64 = 1_764_230_000
    let validity = parseInteger(fields[11], in: 0...31_536_000) ?? 300
    let context = CodeMailContext(
        user: fields[3], address: fields[4].isEmpty ? "alice@example.com" : fields[4], code: fields[9],
        transactionID: fields[8], service: fields[5], rhost: fields[6], host: fields[7],
        created: created, expires: created + validity)
    let composer = MailComposer(config: config, random: FixedRandom())
    guard let mail = try? composer.compose(context, date: created) else { return 0 }

    check(mail.to == context.address && EmailAddress.isValid(mail.to) && EmailAddress.isValid(mail.from), "envelope")
    let bytes = Array(mail.text.utf8)
    check(!bytes.contains(0x0D), "a CR in the message")
    let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    guard let blank = lines.firstIndex(of: "") else {
        check(false, "no end of the header block")
        return 0
    }

    // Header block: the known headers in order, each once; continuation lines only in Subject.
    var seen = [String]()
    var headers = [String: String]()
    for line in lines[..<blank] {
        check(!line.unicodeScalars.contains(where: isControl), "control character in header line \(shown(line))")
        if line.hasPrefix(" ") {
            check(seen.last == "Subject", "continuation line outside Subject: \(shown(line))")
            headers["Subject", default: ""] += "\n" + line
            continue
        }
        guard let colon = line.firstIndex(of: ":") else {
            check(false, "header line without a name: \(shown(line))")
            return 0
        }
        let name = String(line[..<colon])
        check(line[colon...].hasPrefix(": "), "header without \": \" \(shown(line))")
        seen.append(name)
        headers[name] = String(line[line.index(colon, offsetBy: 2)...])
    }
    check(seen == headerOrder, "headers \(seen)")
    check(headers["To"] == context.address && headers["From"] == mail.from, "To/From headers")
    if context.transactionID.utf8.allSatisfy({ $0 < 0x80 }) {
        check(lines[..<blank].allSatisfy { $0.utf8.allSatisfy { $0 < 0x80 } }, "8-bit header")
    }
    // The subject is the template without the code, encoded as headerWord does.
    var subjectValues = composer.values(context)
    subjectValues["otp"] = nil
    let subject = config.mailSubject.expandingPlaceholders(subjectValues)
    check(headers["Subject"] == MIMEEncoding.headerWord(subject).replacingCRLF(), "Subject \(shown(headers["Subject"] ?? ""))")

    // Body: the boundary appears only as delimiters; each part decodes to its expanded template.
    guard let type = headers["Content-Type"], let open = type.firstRange(of: "boundary=\"") else {
        check(false, "no boundary")
        return 0
    }
    let boundary = String(type[open.upperBound...].dropLast())
    var parts = [[String]]()
    var closed = false
    for line in lines[(blank + 1)...] {
        if closed {
            check(line.isEmpty, "text after the closing boundary")
        } else if line == "--\(boundary)" {
            parts.append([])
        } else if line == "--\(boundary)--" {
            closed = true
        } else {
            check(!line.contains(boundary), "the boundary inside a body: \(shown(line))")
            check(line.utf8.count <= 76 && line.utf8.allSatisfy { $0 < 0x80 }, "body line \(shown(line))")
            if !parts.isEmpty { parts[parts.count - 1].append(line) }
        }
    }
    check(closed && (parts.count == (config.htmlTemplate.isEmpty ? 1 : 2)), "\(parts.count) parts")
    let values = composer.values(context)
    var htmlValues = [String: String]()
    for (name, value) in values { htmlValues[name] = MIMEEncoding.htmlEscaped(value) }
    let templates = [(config.textTemplate.isEmpty ? CodeMailDefaults.text : config.textTemplate, values),
                     (config.htmlTemplate, htmlValues)]
    for (part, (template, partValues)) in zip(parts, templates) {
        guard let end = part.firstIndex(of: "") else {
            check(false, "part without a header block")
            return 0
        }
        check(part[..<end].joined(separator: "\n").hasSuffix("Content-Transfer-Encoding: quoted-printable"), "part headers")
        let body = part[(end + 1)...].joined(separator: "\n")
        let expected = composer.normalized(template.expandingPlaceholders(partValues))
        check(decodeQuotedPrintable(body) == Array(expected.utf8) + [0x0A], "part does not decode to its template: \(shown(body)) vs \(shown(expected))")
    }
    return 0
}
