/// How the flows talk to clients that cannot prompt or must stay quiet (pam_emailotp(8), NOTES):
/// a blank answer is no answer, and where the code went goes into the code prompt when a
/// separate message could land on a command's standard output or nowhere (`InteractiveFlow.codePrompt`).
extension Authenticator {
    /// An empty or blank answer: a client without a terminal (ssh from cron without BatchMode,
    /// sudo -S with nothing left on its input) answers every prompt so. It is never a PIN or a
    /// code, so it costs nothing and the attempt ends.
    func isNoAnswer(_ answer: String) -> Bool {
        answer.trimmedBlanks.isEmpty
    }

    /// `use_first_pass` with no password from an earlier module: refused, nothing counted.
    func noStackedPassword(user: String) -> AuthResult {
        log(.notice, user, "use_first_pass given but no earlier module set a password")
        return .authError
    }

    /// Logs an unanswered prompt; the caller ends the attempt with `.conversationError`.
    func noAnswer(user: String, at prompt: String, transactionID: String? = nil) -> AuthResult {
        let about = transactionID.map { ", transaction \($0)" } ?? ""
        log(.warning, user, "no answer at the \(prompt) prompt: the client could not prompt (no terminal? "
            + "BatchMode=yes?); nothing counted\(about)")
        return .conversationError
    }
}
