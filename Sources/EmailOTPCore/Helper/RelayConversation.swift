import EmailOTPFlows
import EmailOTPSystem

/// The conversation of a login that runs in the helper: each question goes to the module over
/// the helper's socket and waits for its answer no longer than `answerTimeout` seconds, so
/// that an application stopped by its caller (SIGSTOP of su) cannot keep the helper, and no
/// store lock is ever held while it waits (the flows hold none across a prompt).
package final class RelayConversation: Conversation, ChallengeAware {
    let input: Int32
    let output: Int32
    let answerTimeout: Int64
    package private(set) var openedChallenge = false
    /// The module stopped answering (end of file, timeout, malformed frame): every later prompt fails at once.
    package private(set) var broken = false
    /// One deadline for every prompt of the login together: each answer is awaited at most
    /// `answerTimeout`, and all of them end `2 × answerTimeout` after the conversation began
    /// (the PIN's prompt, then the code's life), however many prompts there are.
    package let lifetime: Deadline
    /// When the last answer came (or the conversation began): the fail delay counts from here.
    package private(set) var lastAnswer: Int64

    package init(input: Int32, output: Int32, answerTimeout: Int64) {
        self.input = input
        self.output = output
        self.answerTimeout = answerTimeout
        lifetime = Deadline(afterSeconds: 2 * answerTimeout)
        lastAnswer = Monotonic.milliseconds()
    }

    package func prompt(_ text: String, echo: Bool) -> String? {
        guard !broken else { return nil }
        let deadline = Deadline(afterSeconds: answerTimeout).earlier(lifetime)
        guard HelperProtocol.writeFrame(output, .prompt(text, echo: echo), until: deadline) else {
            broken = true
            return nil
        }
        guard case .answer(let answer)? = try? HelperProtocol.readFrame(input, until: deadline) else {
            broken = true
            return nil
        }
        lastAnswer = Monotonic.milliseconds()
        return answer
    }

    package func info(_ text: String) {
        guard !broken else { return }
        if !HelperProtocol.writeFrame(output, .info(text), until: Deadline(afterSeconds: answerTimeout)) { broken = true }
    }

    package func error(_ text: String) {
        guard !broken else { return }
        if !HelperProtocol.writeFrame(output, .error(text), until: Deadline(afterSeconds: answerTimeout)) { broken = true }
    }

    package func challengeOpened() {
        openedChallenge = true
    }
}
