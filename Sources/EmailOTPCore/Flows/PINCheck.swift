import EmailOTPConfig
import EmailOTPCrypto
import EmailOTPToken

extension TokenRecord {
    /// Checks `pin` with the same work whatever the state of the token: a disabled or locked
    /// token, or one without a PIN, costs a dummy hash and then refuses, so that its answer
    /// tells nothing the wrong PIN would not. nil when the PIN is right and the token usable;
    /// a wrong PIN counts `misses` failures.
    mutating func checkPIN(_ pin: String, now: Int64, config: Config, misses: Int) -> VerifyOutcome? {
        let right: Bool
        if let hash = pinHash {
            right = PINHash.verify(pin, hash: hash)
        } else {
            PINHash.dummyVerify(pin)
            right = false
        }
        guard enabled else { return .disabled }
        guard !isLocked else { return .locked }
        guard pinHash != nil else { return .noPIN }
        guard right else {
            for _ in 0..<max(misses, 0) { registerFailure(now: now, config: config) }
            return .wrongPIN
        }
        return nil
    }
}
