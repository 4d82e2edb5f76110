import EmailOTPFlows
import EmailOTPSystem

/// The caller's side of one run of the helper, shared by the module and `emailotp`: a socket
/// pair, the child started on it with an empty environment, the first frame written, the
/// helper's conversation relayed to `conversation` until its result, the child reaped (with
/// SIGCHLD at its default meanwhile).
package enum HelperCall {
    /// Why the helper gave no outcome although it was started.
    package enum Broken {
        /// The first frame could not be written.
        case requestNotWritten
        /// The conversation ended before the result (`HelperProtocol.Refused`).
        case relay(Error)
    }

    /// What became of the run.
    package enum Run {
        /// No socket pair: nothing was started.
        case noSocket(Error)
        /// The child could not be started.
        case notStarted(Error)
        /// The helper ran: its outcome (nil with the reason when there was none) and its end.
        case ran(HelperProtocol.Outcome?, broken: Broken?, status: ChildStatus)
    }

    /// Runs the helper at `path` with `arguments`, sends `request` and relays until the result.
    /// The child is waited for at most 10 s after the result, 1 s when there was none.
    package static func run(_ path: String, arguments: [String], request: HelperProtocol.Frame,
                           as identity: ChildIdentity = .inherited, relayingTo conversation: Conversation) -> Run {
        let ours: FileDescriptor
        let theirs: FileDescriptor
        do {
            (ours, theirs) = try ChildIO.socketPair()
        } catch {
            return .noSocket(error)
        }
        return keepingChildStatus {
            let child: ChildProcess
            do {
                child = try ChildProcess.spawn(path, arguments: arguments, environment: [],
                                               stdin: theirs.raw, stdout: theirs.raw, as: identity)
            } catch {
                return .notStarted(error)
            }
            theirs.closeNow()
            var outcome: HelperProtocol.Outcome? = nil
            var broken: Broken? = nil
            if HelperProtocol.writeFrame(ours.raw, request, until: Deadline(afterSeconds: HelperProtocol.requestTimeout)) {
                do {
                    outcome = try HelperProtocol.relay(ours.raw, to: conversation)
                } catch {
                    broken = .relay(error)
                }
            } else {
                broken = .requestNotWritten
            }
            ours.closeNow()
            let status = child.wait(until: Deadline(afterSeconds: outcome == nil ? 1 : 10))
            return .ran(outcome, broken: broken, status: status)
        }
    }
}
