import EmailOTPSystem
import Glibc

/// Runs `sendmail -t -oi -f SENDER` without a shell, feeding the message on standard input.
/// The message goes through a socket written with `MSG_NOSIGNAL`, so a sendmail that dies early
/// cannot raise SIGPIPE inside sshd or sudo; a sendmail that hangs is killed after the timeout.
package struct SendmailMailer: Mailer {
    let path: String
    let timeout: Int64

    static let environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"]

    package func send(_ mail: OutgoingMail) throws {
        let deadline = Deadline(afterSeconds: timeout)
        let (ours, theirs) = try ChildIO.socketPair()
        let status: ChildStatus = try keepingChildStatus {
            let child: ChildProcess
            do {
                child = try ChildProcess.spawn(path, arguments: ["-t", "-oi", "-f", mail.from],
                                               environment: Self.environment, stdin: theirs.raw)
            } catch {
                throw MailError("cannot run \(path): \(SystemError.reason((error as? SystemError)?.code ?? EIO))")
            }
            theirs.closeNow()
            let written = ChildIO.writeAll(ours.raw, Array(mail.text.utf8), until: deadline)
            ours.shutdownWriting()
            let status = child.wait(until: deadline)
            if !written, case .exited(0) = status { throw MailError(SystemError("write to", path).description) }
            return status
        }
        switch status {
        case .exited(0): return
        case .exited(127): throw MailError("cannot run \(path)")
        case .exited(let code): throw MailError("\(path) exited with status \(code)")
        case .signaled(let signal): throw MailError("\(path) was killed by signal \(signal)")
        case .timedOut: throw MailError("\(path) did not finish within \(timeout) seconds")
        case .notWaitable(let code): throw MailError("cannot wait for \(path): \(SystemError.reason(code))")
        }
    }
}
