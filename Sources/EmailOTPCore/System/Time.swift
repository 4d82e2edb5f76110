import Glibc

/// The time source of the flows; tests inject one they can move.
public protocol Clock {
    /// Seconds since the epoch.
    func now() -> Int64
}

/// The system clock (`time(2)`).
package struct SystemClock: Clock {
    package init() {}
    package func now() -> Int64 { Int64(time(nil)) }
}

/// Time formatting without Foundation and without the process locale (sudo calls setlocale).
package enum TimeFormat {
    static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func broken(_ seconds: Int64, local: Bool) -> tm {
        var t = time_t(seconds)
        var parts = tm()
        if local { localtime_r(&t, &parts) } else { gmtime_r(&t, &parts) }
        return parts
    }

    static func pad(_ value: Int32, _ width: Int = 2) -> String {
        let digits = String(value < 0 ? -value : value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    static func zone(_ parts: tm) -> String {
        guard let name = parts.tm_zone else { return "" }
        return String(cString: name)
    }

    /// `2026-11-27 10:35:00 UTC`, in local time.
    package static func local(_ seconds: Int64) -> String {
        let p = broken(seconds, local: true)
        return "\(p.tm_year + 1900)-\(pad(p.tm_mon + 1))-\(pad(p.tm_mday)) \(pad(p.tm_hour)):\(pad(p.tm_min)):\(pad(p.tm_sec)) \(zone(p))"
    }

    /// `10:35`, local time of day.
    package static func localClock(_ seconds: Int64) -> String {
        let p = broken(seconds, local: true)
        return "\(pad(p.tm_hour)):\(pad(p.tm_min))"
    }

    /// RFC 5322 date: `Fri, 27 Nov 2026 10:35:00 +0000`.
    package static func rfc5322(_ seconds: Int64) -> String {
        let p = broken(seconds, local: true)
        let offset = Int32(p.tm_gmtoff / 60)
        let sign = offset < 0 ? "-" : "+"
        let absolute = offset < 0 ? -offset : offset
        let day = days[Int(max(0, min(6, p.tm_wday)))]
        let month = months[Int(max(0, min(11, p.tm_mon)))]
        return "\(day), \(pad(p.tm_mday)) \(month) \(p.tm_year + 1900) \(pad(p.tm_hour)):\(pad(p.tm_min)):\(pad(p.tm_sec)) \(sign)\(pad(absolute / 60))\(pad(absolute % 60))"
    }

    /// ISO 8601 in UTC: `2026-11-27T10:35:00Z`.
    package static func iso8601(_ seconds: Int64) -> String {
        let p = broken(seconds, local: false)
        return "\(p.tm_year + 1900)-\(pad(p.tm_mon + 1))-\(pad(p.tm_mday))T\(pad(p.tm_hour)):\(pad(p.tm_min)):\(pad(p.tm_sec))Z"
    }

    /// `5 min`, `1 min 30 s`, `45 s`: short enough for a prompt.
    package static func short(_ seconds: Int64) -> String {
        let minutes = seconds / 60, rest = seconds % 60
        if minutes == 0 { return "\(rest) s" }
        return rest == 0 ? "\(minutes) min" : "\(minutes) min \(rest) s"
    }

    /// `5 minutes`, `1 minute`, `90 seconds`.
    package static func duration(_ seconds: Int64) -> String {
        if seconds % 60 == 0 {
            let minutes = seconds / 60
            return minutes == 1 ? "1 minute" : "\(minutes) minutes"
        }
        return seconds == 1 ? "1 second" : "\(seconds) seconds"
    }
}
