import EmailOTPSystem

/// The events of `notify` (emailotp.conf(5)) that mail the user an alert.
package enum NotifyEvent: String, CaseIterable {
    case lockout
    case recovery
    case newHost = "new_host"
    /// A mailed code expired without being used (Token/Unanswered.swift).
    case unanswered

    /// A comma list such as `lockout,recovery`; empty (or `none`) turns every alert off.
    package static func list(_ value: String) throws -> Set<NotifyEvent> {
        var events = Set<NotifyEvent>()
        let trimmed = value.trimmedBlanks
        if trimmed.isEmpty || ByteText.same(trimmed, "none") { return events }
        for item in ByteText.split(trimmed, at: 0x2C) {
            guard let event = NotifyEvent(rawValue: String(item).trimmedBlanks) else {
                throw ConfigError("notify: \"\(LogText.printable(String(item)))\" is not lockout, recovery, new_host or unanswered")
            }
            events.insert(event)
        }
        return events
    }
}
