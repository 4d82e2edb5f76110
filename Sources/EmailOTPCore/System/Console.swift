import Glibc

/// The standard streams of a command run by a person (`emailotp`), never of the module.
package enum Console {
    /// Writes `text` to standard error as it is (no line end added); `fputs(3)`.
    package static func writeError(_ text: String) {
        fputs(text, stderr)
    }

    /// Sends what `print` buffered on standard output; `fflush(3)`.
    package static func flushOutput() {
        fflush(stdout)
    }

    /// True when standard input is a terminal; `isatty(3)`.
    package static var inputIsTerminal: Bool { isatty(STDIN_FILENO) == 1 }

    /// Runs `body` with the terminal of standard input not echoing what is typed, the old
    /// settings restored however `body` ends; `tcgetattr(3)`, `tcsetattr(3)` with `TCSAFLUSH`.
    package static func withInputEchoOff<T>(_ body: () throws -> T) rethrows -> T {
        var saved = termios()
        tcgetattr(STDIN_FILENO, &saved)
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
        defer { tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved) }
        return try body()
    }
}
