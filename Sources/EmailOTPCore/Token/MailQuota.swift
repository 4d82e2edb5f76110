import EmailOTPConfig

/// The hour every hourly quota counts over: a time older than an hour leaves the window, and
/// so does one more than an hour ahead (a clock set back must not block a quota for good).
package enum HourlyWindow {
    package static let seconds: Int64 = 3600

    /// Keeps the times of `times` that are inside the window at `now`.
    package static func keepLastHour(_ times: inout [Int64], now: Int64) {
        times.removeAll { $0 <= now - seconds || $0 > now + seconds }
    }
}

/// The hourly quotas of `max_mails_per_hour` (emailotp.conf(5)), one for codes (`mails`) and
/// one for alerts (`alerts`), so that alerts cannot use up the user's codes, nor codes the
/// alerts; and the once-per-lock mark of the lockout alert.
extension TokenRecord {
    /// Whether one more code may be mailed this hour (`refresh` has trimmed `mails`).
    package func mayMailCode(config: Config) -> Bool {
        mails.count < config.maxMailsPerHour
    }

    /// Counts a code mail sent at `time`.
    mutating func noteCodeMail(at time: Int64) {
        mails.append(time)
    }

    /// Gives back the code mail counted at `time` (its mail could not be sent).
    mutating func returnCodeMail(at time: Int64) {
        if let index = mails.lastIndex(of: time) { mails.remove(at: index) }
    }

    /// Takes one alert from the hourly quota; false when it is used up.
    package mutating func reserveAlert(now: Int64, config: Config) -> Bool {
        HourlyWindow.keepLastHour(&alerts, now: now)
        guard alerts.count < config.maxMailsPerHour else { return false }
        alerts.append(now)
        return true
    }

    /// Marks the current lock as alerted; false when the token is not locked or its lock was
    /// alerted already (the lockout alert goes once per lock).
    package mutating func markLockAlerted() -> Bool {
        guard lockAlertDue else { return false }
        alertedLock = lockedAt
        return true
    }

    /// The token is locked and its lock was not alerted yet.
    package var lockAlertDue: Bool { isLocked && alertedLock != lockedAt }
}
