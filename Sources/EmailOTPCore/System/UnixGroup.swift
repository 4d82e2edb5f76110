import Glibc

/// Unix group names and lookups, for `helper_group`.
package enum UnixName {
    /// The portable name rule of useradd/groupadd (`[a-z_][a-z0-9_-]*`, at most 32 bytes, an
    /// optional trailing `$`), so that a configured name cannot smuggle anything into a log line.
    package static func isValid(_ name: String) -> Bool {
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
        Reentrant.lookup(group()) { entry, buffer, size, result in
            getgrnam_r(name, entry, buffer, size, result)
        } copy: { $0.gr_gid }
    }

    /// The names listed as members of group `name` (`gr_mem`; not the accounts whose primary
    /// group it is); empty when there is no such group. `getgrnam_r(3)`.
    package static func memberNames(of name: String) -> [String] {
        // A group of many members needs a larger buffer than one account: up to 16 MiB.
        Reentrant.lookup(group(), limit: 1 << 24) { entry, buffer, size, result in
            getgrnam_r(name, entry, buffer, size, result)
        } copy: { entry -> [String] in
            // The member names point into the lookup's buffer: read inside its scope.
            var names = [String]()
            guard var member = entry.gr_mem else { return names }
            while let raw = member.pointee {
                names.append(String(cString: raw))
                member += 1
            }
            return names
        } ?? []
    }

    /// Every group of account `user` (its primary group and the supplementary ones NSS knows:
    /// local, LDAP, SSSD), or nil when NSS knows no such account or its groups cannot be listed;
    /// `getpwnam_r(3)`, then `getgrouplist(3)`.
    package static func memberships(of user: String) -> [gid_t]? {
        Account.lookup(name: user)?.groupList()
    }

    /// The real group and the supplementary groups of this process; `getgroups(2)`.
    package static func processGroups() -> [gid_t] {
        var groups = [gid_t](repeating: 0, count: 1024)
        let count = getgroups(Int32(groups.count), &groups)
        return [getgid()] + (count > 0 ? Array(groups.prefix(Int(count))) : [])
    }
}
