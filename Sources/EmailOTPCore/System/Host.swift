import Glibc

/// This host's name, for mail headers, the default sender and the SMTP greeting.
public enum Host {
    /// `gethostname(2)`, or `localhost` when it fails.
    public static func name() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(cString: buffer)
        return name.isEmpty || name.hasControlCharacters ? "localhost" : name
    }
}
