import EmailOTPCore
import Glibc

/// Reading PINs and codes: from a terminal with echo off, or one line from standard input.
enum Terminal {
    /// One line from standard input, without its line end; nil at end of input.
    static func readLine() -> String? {
        guard var line = Swift.readLine(strippingNewline: true) else { return nil }
        if line.hasSuffix("\r") { line.removeLast() }
        return line
    }

    /// Asks on the terminal with echo off (`tcsetattr(3)`).
    static func readSecret(_ prompt: String) throws -> String {
        guard Console.inputIsTerminal else { throw CLIError("standard input is not a terminal: use --pin-stdin") }
        Console.writeError(prompt)
        defer { Console.writeError("\n") }
        return try Console.withInputEchoOff {
            guard let line = readLine() else { throw CLIError("no input") }
            return line
        }
    }

    /// A new PIN: one stdin line with `fromStdin`, else asked twice on the terminal.
    static func newPIN(fromStdin: Bool) throws -> String {
        let pin: String
        if fromStdin {
            guard let line = readLine() else { throw CLIError("no PIN on standard input") }
            pin = line
        } else {
            pin = try readSecret("New PIN: ")
            guard try readSecret("Repeat the PIN: ") == pin else { throw CLIError("the PINs do not match") }
        }
        if let problem = PINHash.validate(pin) { throw CLIError(problem) }
        return pin
    }
}
