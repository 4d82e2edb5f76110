import EmailOTPConfig

/// The open challenges of a token: opened by a right PIN, armed once their mail has gone out,
/// answered, withdrawn. A challenge is written with no tries left and cannot be answered until
/// `arm` gives it `otp_tries`; one without tries left is void, or its mail has not gone out yet.
extension TokenRecord {
    /// The newest open challenge.
    package var newestChallenge: Challenge? {
        challenges.max { $0.created < $1.created }
    }

    /// The newest armed challenge (its mail went out): the one a login within
    /// `resend_interval` re-uses.
    package var newestArmedChallenge: Challenge? {
        challenges.filter { $0.triesLeft > 0 }.max { $0.created < $1.created }
    }

    /// The challenges an answer is checked against: `transactionID`'s, or the open ones (all of
    /// them with concurrent challenges, else the newest), without those that have no tries left.
    package func targets(transactionID: String?, config: Config) -> [Challenge] {
        var targets: [Challenge]
        if let id = transactionID {
            targets = challenges.filter { $0.transactionID == id }
        } else if config.concurrentChallenges {
            targets = challenges
        } else {
            targets = newestChallenge.map { [$0] } ?? []
        }
        targets.removeAll { $0.triesLeft <= 0 }
        return targets
    }

    /// Adds a challenge: with concurrent challenges the oldest beyond `max_open_challenges` go,
    /// without them every older challenge is voided.
    package mutating func open(_ challenge: Challenge, config: Config) {
        if config.concurrentChallenges {
            challenges.sort { $0.created < $1.created }
            while challenges.count >= config.maxOpenChallenges { challenges.removeFirst() }
        } else {
            challenges.removeAll()
        }
        challenges.append(challenge)
    }

    /// Opens `challenge` and counts its mail in the hourly quota (`mayMailCode` first).
    package mutating func openMailed(_ challenge: Challenge, config: Config) {
        open(challenge, config: config)
        noteCodeMail(at: challenge.created)
    }

    /// The mail of `challenge` went out: it may be answered `tries` times. Nothing happens when
    /// it is gone meanwhile (answered, voided by a lock).
    package mutating func arm(_ transactionID: String, tries: Int) {
        guard let index = challenges.firstIndex(where: { $0.transactionID == transactionID }) else { return }
        challenges[index].triesLeft = tries
    }

    /// The mail of `challenge` could not be sent: the challenge goes, and so does its mail from
    /// the hourly quota.
    package mutating func withdraw(_ challenge: Challenge) {
        challenges.removeAll { $0.transactionID == challenge.transactionID }
        returnCodeMail(at: challenge.created)
    }
}
