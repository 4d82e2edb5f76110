import EmailOTPMail

extension Authenticator {
    /// Composes the code mail of `content` and hands it to the transport: the one path every
    /// code takes, in a login and in `emailotp enroll --verify`.
    public func sendCodeMail(_ content: CodeMailContext) throws {
        let mail = try MailComposer(config: config, random: random).compose(content, date: clock.now())
        try mailer.send(mail)
    }

    /// `emailotp enroll --verify`: a fresh code mailed to `address` outside any challenge, with
    /// the configured template and transport. Returns the code the answer must match.
    public func mailVerificationCode(user: String, address: String) throws -> String {
        let code = try random.digits(config.otpLength)
        let now = clock.now()
        try sendCodeMail(CodeMailContext(user: user, address: address, code: code, transactionID: try random.digits(20),
                                         service: context.service, rhost: context.rhost, host: context.host,
                                         created: now, expires: now + config.otpValidity))
        return code
    }
}
