import CPAM
import EmailOTPCore
import Glibc

/// One PAM handle seen as the flows' conversation and logger.
final class PAMSession: Conversation, Logger, ChallengeAware {
    let handle: OpaquePointer
    var debug = false
    /// This transaction only opened a challenge (the first step of challenge mode).
    private(set) var openedChallenge = false

    /// The flags of `pam_sm_authenticate`.
    let flags: Int32

    init(handle: OpaquePointer, flags: Int32 = 0) {
        self.handle = handle
        self.flags = flags
    }

    /// The application asked for silence (`PAM_SILENT`; sudo passes it by default) or has no
    /// terminal (`PAM_TTY` unset or empty: sudo -S or -A in a script, Cockpit's sudo, a web
    /// application). A separate message may then land on a command's standard output or
    /// nowhere, so the flows put where the code went into the code prompt instead. A `PAM_TTY`
    /// that names the application's own channel (sshd's "ssh", vsftpd's "ftp") shows messages.
    var quiet: Bool {
        flags & Int32(bitPattern: UInt32(PAM_SILENT)) != 0 || (item(PAM_TTY) ?? "").isEmpty
    }

    /// What `pam_get_user(3)` gave.
    enum UserName {
        case name(String)
        /// The name is not valid UTF-8.
        case notUTF8
        /// `pam_get_user` failed with this PAM code.
        case failed(Int32)
    }

    /// `pam_get_user(3)`.
    func user() -> UserName {
        var name: UnsafePointer<CChar>? = nil
        let status = pam_get_user(handle, &name, nil)
        guard status == PAM_SUCCESS else { return .failed(status) }
        // Success without a name breaks pam_get_user's contract: the stack is broken.
        guard let raw = name else { return .failed(PAM_SERVICE_ERR) }
        guard let valid = String(validatingCString: raw) else { return .notUTF8 }
        return .name(valid)
    }

    /// `pam_get_item(3)` for a string item; nil when unset.
    func item(_ type: Int32) -> String? {
        var value: UnsafeRawPointer? = nil
        guard pam_get_item(handle, type, &value) == PAM_SUCCESS, let raw = value else { return nil }
        return String(cString: raw.assumingMemoryBound(to: CChar.self))
    }

    /// `pam_prompt(3)`; the answer's memory is wiped before it is freed.
    func prompt(_ text: String, echo: Bool) -> String? {
        var response: UnsafeMutablePointer<CChar>? = nil
        let style = echo ? PAM_PROMPT_ECHO_ON : PAM_PROMPT_ECHO_OFF
        guard cshim_pam_prompt(handle, style, text, &response) == PAM_SUCCESS, let answer = response else {
            CMemory.free(response)
            return nil
        }
        return CMemory.takeWiping(answer)
    }

    func challengeOpened() {
        openedChallenge = true
    }

    /// Asks libpam to wait `seconds` after a failed stack; `pam_fail_delay(3)`.
    func delayFailure(seconds: Int64) {
        guard seconds > 0 else { return }
        _ = pam_fail_delay(handle, UInt32(clamping: seconds * 1_000_000))
    }

    /// A message the application refuses is logged at debug level only: the outcome was
    /// logged already, and FreeRADIUS refuses every error message.
    func info(_ text: String) {
        message(PAM_TEXT_INFO, text)
    }

    func error(_ text: String) {
        message(PAM_ERROR_MSG, text)
    }

    private func message(_ style: Int32, _ text: String) {
        let status = cshim_pam_message(handle, style, text)
        if status != PAM_SUCCESS {
            debugLog("the application refused a message: \(String(cString: pam_strerror(handle, status)))")
        }
    }

    /// `pam_syslog(3)` at `LOG_AUTHPRIV`; debug lines only with the `debug` argument.
    func log(_ level: LogLevel, _ message: String) {
        guard level != .debug || debug else { return }
        cshim_pam_syslog(handle, level.syslogPriority, LogText.escaped(message))
    }

    func debugLog(_ message: String) {
        log(.debug, message)
    }
}
