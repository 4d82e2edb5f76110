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

extension Host {
    /// This host's stable identity, read once per process: the first line of
    /// `/etc/machine-id` (systemd's machine id, 32 hex digits), or the host name when there is
    /// none (a minimal container). `remember` and `auth_cache` grants on a shared store are
    /// scoped to it (emailotp.conf(5), grant_scope).
    package static let identity: String = identity(machineID: "/etc/machine-id")

    static func identity(machineID path: String) -> String {
        if let file = try? FileDescriptor.open(path, flags: O_RDONLY), let bytes = try? file.readAll(limit: 256) {
            let line = bytes.prefix { $0 != UInt8(ascii: "\n") }
            if line.count >= 16, line.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }) {
                return "machine-id:" + String(decoding: line, as: UTF8.self)
            }
        }
        return "hostname:" + name()
    }
}
