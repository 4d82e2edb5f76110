import EmailOTPConfig
import EmailOTPCrypto
import EmailOTPSystem

/// A message ready for a transport: envelope and RFC 5322 text with `\n` line ends.
public struct OutgoingMail: Equatable {
    package var from: String
    package var to: String
    package var text: String

    package init(from: String, to: String, text: String) {
        self.from = from
        self.to = to
        self.text = text
    }
}

/// What one code mail says.
public struct CodeMailContext {
    package var user: String
    package var address: String
    package var code: String
    package var transactionID: String
    package var service: String
    package var rhost: String
    package var host: String
    package var created: Int64
    package var expires: Int64
    /// How to finish the login ({finish}); set in challenge mode, where the service may never
    /// show the module's message. Empty in interactive mode.
    package var finish = ""
    /// The first factor the stack asked before the code ({first_factor}): "your PIN" with
    /// pin=token, "your password or key" with pin=none; empty: "your password, key or PIN".
    package var firstFactor = ""

    package init(user: String, address: String, code: String, transactionID: String, service: String,
                rhost: String, host: String, created: Int64, expires: Int64) {
        self.user = user
        self.address = address
        self.code = code
        self.transactionID = transactionID
        self.service = service
        self.rhost = rhost
        self.host = host
        self.created = created
        self.expires = expires
    }
}

/// Builds the MIME message of a code mail from the configured templates (the built-in ones:
/// `CodeMailDefaults`).
package struct MailComposer {
    package let config: Config
    package let random: RandomSource

    package init(config: Config, random: RandomSource) {
        self.config = config
        self.random = random
    }

    /// The placeholder values (emailotp.conf(5), mail_subject and mail_template).
    func values(_ context: CodeMailContext) -> [String: String] {
        let validity = context.expires - context.created
        return [
            "otp": context.code,
            "user": context.user,
            "host": context.host,
            "service": context.service.isEmpty ? "login" : context.service,
            "validity": String(max(1, (validity + 59) / 60)),
            "expires": TimeFormat.local(context.expires),
            "transaction_id": context.transactionID,
            "rhost": context.rhost.isEmpty ? "this host" : context.rhost,
            "finish": context.finish,
            "first_factor": context.firstFactor.isEmpty ? "your password, key or PIN" : context.firstFactor,
        ]
    }

    /// The whole message. Throws when a value would break a header (CR, LF, other controls).
    package func compose(_ context: CodeMailContext, date: Int64) throws -> OutgoingMail {
        let sender = config.effectiveSender
        guard EmailAddress.isValid(context.address), EmailAddress.isValid(sender) else {
            throw MailError("refusing a mail address that is not a plain address")
        }
        // Both come from this module; anything else must not reach a header.
        guard context.transactionID.utf8.count == 20, context.transactionID.isASCIIDigits,
              context.code.isASCIIDigits else {
            throw MailError("refusing a transaction id or code that is not digits")
        }
        let fields = values(context)
        for (name, value) in fields where value.hasControlCharacters {
            throw MailError("refusing control characters in {\(name)}")
        }
        // The code never goes into the subject: lock screens and mail lists show subjects.
        var subjectFields = fields
        subjectFields["otp"] = nil
        let subject = config.mailSubject.expandingPlaceholders(subjectFields)
        guard !subject.hasControlCharacters else {
            throw MailError("refusing control characters in the subject")
        }
        let builtIn = context.finish.isEmpty ? CodeMailDefaults.text : CodeMailDefaults.challengeText
        let textTemplate = config.textTemplate.isEmpty ? builtIn : config.textTemplate
        let text = textTemplate.expandingPlaceholders(fields)
        var htmlFields = [String: String]()
        for (name, value) in fields { htmlFields[name] = MIMEEncoding.htmlEscaped(value) }
        let html = config.htmlTemplate.isEmpty ? nil : config.htmlTemplate.expandingPlaceholders(htmlFields)

        let token = Hex.encode(try random.bytes(12))
        let boundary = "=_emailotp_\(token)"
        var lines = headerLines(from: sender, to: context.address, subject: subject, date: date, token: token,
                                tag: context.transactionID, host: context.host,
                                extra: ["X-EmailOTP-Transaction-Id: \(context.transactionID)",
                                        "Content-Type: multipart/alternative; boundary=\"\(boundary)\""])
        lines += ["", "This is a multi-part message in MIME format.", ""]
        func part(_ type: String, _ body: String) {
            lines += ["--\(boundary)",
                      "Content-Type: \(type); charset=utf-8",
                      "Content-Transfer-Encoding: quoted-printable",
                      "",
                      MIMEEncoding.quotedPrintable(normalized(body))]
        }
        part("text/plain", text)
        if let html = html { part("text/html", html) }
        lines.append("--\(boundary)--")
        return OutgoingMail(from: sender, to: context.address, text: lines.joined(separator: "\n") + "\n")
    }

    /// The header lines every mail of the module starts with (code, alert and test mails):
    /// Date, From, To, Subject (an encoded word when not plain ASCII), Message-ID
    /// `<token.tag@host>` (`localhost` unless `host` is a plain DNS name), MIME-Version,
    /// Auto-Submitted, then `extra` (the mail's own X- and Content- lines). `token` is random
    /// hex, `tag` digits or a word of this module: no header injection through either.
    package func headerLines(from sender: String, to address: String, subject: String, date: Int64,
                             token: String, tag: String, host: String, extra: [String]) -> [String] {
        let plainHost = !host.isEmpty
            && host.unicodeScalars.allSatisfy { EmailAddress.isAlphanumeric($0) || $0 == "." || $0 == "-" }
        return [
            "Date: \(TimeFormat.rfc5322(date))",
            "From: \(sender)",
            "To: \(address)",
            "Subject: \(MIMEEncoding.headerWord(subject).replacingCRLF())",
            "Message-ID: <\(token).\(tag)@\(plainHost ? host : "localhost")>",
            "MIME-Version: 1.0",
            "Auto-Submitted: auto-generated",
        ] + extra
    }

    func normalized(_ body: String) -> String {
        String(ByteText.droppingSuffix(body.replacingCRLF(), bytes: [ByteText.lineFeed]))
    }
}

extension String {
    /// `\r\n` → `\n`, lone `\r` → `\n`, by bytes.
    func replacingCRLF() -> String {
        var out = [UInt8]()
        var afterCR = false
        for byte in utf8 {
            if byte == ByteText.lineFeed && afterCR {
                afterCR = false
                continue
            }
            afterCR = byte == ByteText.carriageReturn
            out.append(afterCR ? ByteText.lineFeed : byte)
        }
        return String(decoding: out, as: UTF8.self)
    }
}
