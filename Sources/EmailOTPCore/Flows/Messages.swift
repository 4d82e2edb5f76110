import EmailOTPSystem

/// The texts a user sees (docs/DESIGN.md lists them).
public enum Messages {
    public static func sent(_ address: String, validity: Int64) -> String {
        "A code was sent to \(address). It is valid for \(TimeFormat.duration(validity))."
    }

    public static func reused(_ address: String, interval: Int64) -> String {
        "A code was already sent to \(address) less than \(TimeFormat.duration(interval)) ago. Enter that code."
    }

    public static func challengeSent(_ address: String, validity: Int64, transactionID: String, withPIN: Bool) -> String {
        "A code was sent to \(address), valid for \(TimeFormat.duration(validity)). Transaction id: \(transactionID). "
            + (withPIN ? "Log in again with your PIN followed by the code." : "Log in again with the code.")
    }

    public static func challengeReused(_ address: String, interval: Int64, transactionID: String, withPIN: Bool) -> String {
        "A code was already sent to \(address) less than \(TimeFormat.duration(interval)) ago. Transaction id: \(transactionID). "
            + (withPIN ? "Log in again with your PIN followed by that code." : "Log in again with that code.")
    }

    /// The code prompt when it must carry where the code went (the application asked for
    /// silence or has no terminal) and `otp_prompt` does not say it itself.
    public static let quietCodePrompt = "Code sent to {address} (valid {validity}): "

    /// `otp_prompt` with `{address}` (as shown: masked unless mask_address = false) and
    /// `{validity}` (how long the code is still good) filled in.
    public static func codePrompt(_ template: String, address: String, validity: Int64) -> String {
        template.expandingPlaceholders(["address": address, "validity": TimeFormat.short(max(validity, 0))])
    }

    /// Whether a prompt text says where the code went, so no separate message is needed.
    public static func namesAddress(_ template: String) -> Bool {
        !ByteText.same(template.expandingPlaceholders(["address": ""]), template)
    }

    /// The code mail's {finish} line in challenge mode.
    public static func mailFinish(withPIN: Bool) -> String {
        withPIN ? "To finish logging in, log in again with your PIN followed by this code."
            : "To finish logging in, log in again with this code."
    }

    // Enrolment at the first login (Enrolment.swift).
    public static let enrolling = "Setting up email codes for this account: a code is mailed to the address on record."
    /// The code mail's {finish} line of an interactive enrolment.
    public static let enrolMailNote = "This code sets up email codes for your account at its first login."
    public static let choosePIN = "Choose a PIN (at least 4 characters): you will give it, then a mailed code, at each login."
    public static let newPINPrompt = "New PIN: "
    public static let repeatPINPrompt = "Repeat the new PIN: "
    public static let pinsDiffer = "The PINs do not match."

    public static func pinRefused(_ problem: String) -> String {
        "PIN refused: \(problem)."
    }

    /// How a challenge-mode enrolment finishes: the mail's {finish} line and the message's end.
    public static func enrolFinish(withPIN: Bool) -> String {
        withPIN ? "To finish setting up email codes, log in again with a PIN you choose (at least 4 characters) followed by this code; that PIN is asked at every later login."
            : "To finish setting up email codes, log in again with this code."
    }

    public static func enrolChallenge(_ address: String, sent: Bool, transactionID: String, withPIN: Bool) -> String {
        (sent ? "Setting up email codes: a code was sent to \(address)." : "Setting up email codes: a code was already sent to \(address).")
            + " Transaction id: \(transactionID). " + enrolFinish(withPIN: withPIN)
    }

    public static func wrongCode(triesLeft: Int) -> String {
        "Wrong code. \(Messages.triesLeft(triesLeft))."
    }

    /// "1 try left", "2 tries left": the user's messages, the log and `emailotp show` say it alike.
    public static func triesLeft(_ count: Int) -> String {
        count == 1 ? "1 try left" : "\(count) tries left"
    }

    /// The code prompt got the password again: a script feeding `sudo -S` or a client that
    /// sends one password to every prompt (the log line names mode=challenge for the latter).
    public static let passwordAgain = "The code prompt got the password again. Answer it with the code from the mail."
    public static let wrongCodeFinal = "Wrong code."
    /// Only where the stack has checked the first factor (pin=none).
    public static let locked = "Too many wrong codes: email codes are locked for this account. Ask your administrator to unlock it."
    public static let expired = "The code has expired."
    public static let noChallenge = "No code is waiting for an answer. Log in again to get a new code."
    public static let mailFailed = "The code could not be sent by email. Try again later or contact your administrator."
    public static let rateLimited = "Too many codes were requested. Try again later."
}
