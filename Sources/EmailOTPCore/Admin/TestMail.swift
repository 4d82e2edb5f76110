import EmailOTPMail
import EmailOTPSystem

extension MailComposer {
    /// The message of `emailotp send-test`: same headers and transport, no code.
    package func composeTest(to address: String, host: String, date: Int64) throws -> OutgoingMail {
        let sender = config.effectiveSender
        guard EmailAddress.isValid(address), EmailAddress.isValid(sender) else {
            throw MailError("refusing a mail address that is not a plain address")
        }
        let shownHost = LogText.printable(host)
        let lines = headerLines(from: sender, to: address, subject: "pam_emailotp test message from \(shownHost)", date: date,
                                token: Hex.encode(try random.bytes(12)), tag: "test", host: host,
                                extra: ["Content-Type: text/plain; charset=utf-8",
                                        "Content-Transfer-Encoding: quoted-printable"])
            + ["", MIMEEncoding.quotedPrintable("This is a test message from emailotp send-test on \(shownHost).\nThe mail settings of pam_emailotp work.")]
        return OutgoingMail(from: sender, to: address, text: lines.joined(separator: "\n"))
    }
}
