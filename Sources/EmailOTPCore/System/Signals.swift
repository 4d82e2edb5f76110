import Glibc

/// The signal mask of the calling thread. The dispositions belong to the application: the
/// module only blocks, for a scope, what a call it makes could raise.
package enum Signals {
    /// Runs `body` with SIGPIPE blocked in this thread, then consumes a pending SIGPIPE (unless
    /// the old mask blocked it too) and restores the old mask. A
    /// peer that closes a connection while TLS writes would otherwise raise SIGPIPE, which
    /// kills sshd's or sudo's process (libcurl's advice for `CURLOPT_NOSIGNAL`).
    /// `pthread_sigmask(3)`, `sigpending(2)`, `sigtimedwait(2)`.
    package static func withSIGPIPEBlocked<T>(_ body: () -> T) -> T {
        var block = sigset_t()
        sigemptyset(&block)
        sigaddset(&block, SIGPIPE)
        var old = sigset_t()
        pthread_sigmask(SIG_BLOCK, &block, &old)
        defer {
            var pending = sigset_t()
            sigemptyset(&pending)
            if sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1 && sigismember(&old, SIGPIPE) == 0 {
                var zero = timespec(tv_sec: 0, tv_nsec: 0)
                _ = sigtimedwait(&block, nil, &zero)
            }
            pthread_sigmask(SIG_SETMASK, &old, nil)
        }
        return body()
    }
}
