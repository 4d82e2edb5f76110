/// The events of `notify` (SPEC §13) that mail the user an alert.
public enum NotifyEvent: String, CaseIterable {
    case lockout
    case recovery
    case newHost = "new_host"

    /// A comma list such as `lockout,recovery`; empty (or `none`) turns every alert off.
    public static func list(_ value: String) throws -> Set<NotifyEvent> {
        var events = Set<NotifyEvent>()
        let trimmed = value.trimmedBlanks
        if trimmed.isEmpty || trimmed == "none" { return events }
        for item in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            guard let event = NotifyEvent(rawValue: String(item).trimmedBlanks) else {
                throw ConfigError("notify: \"\(ConfigKeys.printable(String(item)))\" is not lockout, recovery or new_host")
            }
            events.insert(event)
        }
        return events
    }
}
