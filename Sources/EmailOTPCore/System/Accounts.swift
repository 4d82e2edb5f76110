import Glibc

/// One entry of the account database, copied out of the buffer the lookup filled: nothing in it
/// points into memory that C owns or that has been released.
package struct Account: Equatable, Sendable {
    /// `pw_name`: the account's own spelling of its name (SSSD or winbind map `ALICE` and
    /// `alice@DOMAIN` to `alice`).
    package var name: String
    package var uid: uid_t
    package var gid: gid_t

    package init(name: String, uid: uid_t, gid: gid_t) {
        self.name = name
        self.uid = uid
        self.gid = gid
    }

    /// The account named `name`, or nil when NSS knows no such account or its name is not UTF-8;
    /// `getpwnam_r(3)`.
    package static func lookup(name: String) -> Account? {
        Reentrant.lookup(passwd()) { entry, buffer, size, result in
            getpwnam_r(name, entry, buffer, size, result)
        } copy: { Account($0) }
    }

    /// The account with user id `uid`; `getpwuid_r(3)`.
    package static func lookup(uid: uid_t) -> Account? {
        Reentrant.lookup(passwd()) { entry, buffer, size, result in
            getpwuid_r(uid, entry, buffer, size, result)
        } copy: { Account($0) }
    }

    /// The names of the accounts whose primary group is `gid`, in the order of the account
    /// database; `setpwent(3)`, `getpwent(3)`, `endpwent(3)` (each entry read before the next call
    /// reuses its memory).
    package static func names(withPrimaryGroup gid: gid_t) -> [String] {
        var names = [String]()
        setpwent()
        defer { endpwent() }
        while let entry = getpwent() {
            if entry.pointee.pw_gid == gid, let raw = entry.pointee.pw_name { names.append(String(cString: raw)) }
        }
        return names
    }

    /// Reads the entry while the buffer its strings point into is alive.
    private init?(_ entry: passwd) {
        guard let raw = entry.pw_name, let name = String(validatingCString: raw) else { return nil }
        self.init(name: name, uid: entry.pw_uid, gid: entry.pw_gid)
    }

    /// The account's groups: its primary group and every group that lists it, or nil when they
    /// cannot be listed; `getgrouplist(3)`.
    package func groupList() -> [gid_t]? {
        var capacity = 64
        while capacity <= 1 << 16 {
            var groups = [gid_t](repeating: 0, count: capacity)
            var count = Int32(capacity)
            let status = groups.withUnsafeMutableBufferPointer { buffer -> Int32 in
                guard let base = buffer.baseAddress else { return -1 }
                return getgrouplist(name, gid, base, &count)
            }
            if status >= 0 { return Array(groups.prefix(Int(max(count, 0)))) }
            // -1 with count set to the number needed; a count that did not grow is a failure.
            guard Int(count) > capacity else { return nil }
            capacity = Int(count)
        }
        return nil
    }
}

/// The `get*_r` calling convention: the entry's strings point into a caller's buffer, so the
/// entry is read (by `copy`) inside the scope where that buffer is alive; the buffer grows on
/// `ERANGE` (a group with many members, a long GECOS field) up to `limit` bytes.
enum Reentrant {
    static func lookup<Entry, Value>(
        _ empty: Entry,
        limit: Int = 1 << 20,
        _ call: (UnsafeMutablePointer<Entry>, UnsafeMutablePointer<CChar>, Int, UnsafeMutablePointer<UnsafeMutablePointer<Entry>?>) -> Int32,
        copy: (Entry) -> Value?
    ) -> Value? {
        var size = 4096
        while size <= limit {
            var storage = [CChar](repeating: 0, count: size)
            var entry = empty
            var result: UnsafeMutablePointer<Entry>? = nil
            var status: Int32 = 0
            let value: Value? = storage.withUnsafeMutableBufferPointer { buffer in
                withUnsafeMutablePointer(to: &entry) { entryPointer in
                    withUnsafeMutablePointer(to: &result) { resultPointer in
                        guard let base = buffer.baseAddress else { return nil }
                        status = call(entryPointer, base, buffer.count, resultPointer)
                        guard status == 0, let found = resultPointer.pointee else { return nil }
                        return copy(found.pointee)
                    }
                }
            }
            guard status == ERANGE else { return value }
            size *= 2
        }
        return nil
    }
}
