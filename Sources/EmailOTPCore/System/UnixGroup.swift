import Glibc

/// Unix group names and lookups, for `helper_group`.
public enum UnixName {
    /// The portable name rule of useradd/groupadd (`[a-z_][a-z0-9_-]*`, at most 32 bytes, an
    /// optional trailing `$`), so that a configured name cannot smuggle anything into a log line.
    public static func isValid(_ name: String) -> Bool {
        var bytes = Array(name.utf8)
        if bytes.last == UInt8(ascii: "$") { bytes.removeLast() }
        guard let first = bytes.first, bytes.count <= 32 else { return false }
        guard (first >= 0x61 && first <= 0x7A) || first == 0x5F else { return false }
        return bytes.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D }
    }
}

public enum UnixGroup {
    /// The id of group `name`, or nil when there is no such group; `getgrnam_r(3)`.
    public static func id(of name: String) -> gid_t? {
        var group = group()
        var result: UnsafeMutablePointer<group>? = nil
        var size = 16384
        // A directory group with many members needs more room (ERANGE).
        while size <= 1 << 22 {
            var buffer = [CChar](repeating: 0, count: size)
            let status = getgrnam_r(name, &group, &buffer, buffer.count, &result)
            if status == ERANGE {
                size *= 2
                continue
            }
            guard status == 0, result != nil else { return nil }
            return group.gr_gid
        }
        return nil
    }

    /// Every group of account `user` (its primary group and the supplementary ones NSS knows:
    /// local, LDAP, SSSD), or nil when NSS knows no such account; `getpwnam_r(3)`, then
    /// `getgrouplist(3)`.
    public static func memberships(of user: String) -> [gid_t]? {
        guard let account = UnixAccount.entry(user) else { return nil }
        let gid = account.gid
        var count: Int32 = 64
        while count <= 65536 {
            var groups = [gid_t](repeating: 0, count: Int(count))
            var found = count
            if getgrouplist(account.name, gid, &groups, &found) >= 0 {
                return Array(groups.prefix(Int(max(found, 0))))
            }
            // -1: too small; `found` holds the number needed.
            count = max(count * 2, found)
        }
        return nil
    }

    /// The real group and the supplementary groups of this process; `getgroups(2)`.
    public static func processGroups() -> [gid_t] {
        var groups = [gid_t](repeating: 0, count: 1024)
        let count = getgroups(Int32(groups.count), &groups)
        return [getgid()] + (count > 0 ? Array(groups.prefix(Int(count))) : [])
    }
}

public enum UnixAccount {
    /// The account's own name (`pw_name`) and primary group for `name`, or nil when NSS knows
    /// no such account; `getpwnam_r(3)`.
    public static func entry(_ name: String) -> (name: String, gid: gid_t)? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>? = nil
        var size = 4096
        while size <= 1 << 20 {
            var buffer = [CChar](repeating: 0, count: size)
            let status = getpwnam_r(name, &entry, &buffer, size, &result)
            if status == ERANGE {
                size *= 2
                continue
            }
            guard status == 0, result != nil, let raw = entry.pw_name, let own = String(validatingCString: raw) else { return nil }
            return (own, entry.pw_gid)
        }
        return nil
    }
}
