import EmailOTPConfig
import EmailOTPSystem
import Glibc

/// The system's group database, asked whether a user is in a group (`groups`).
public protocol GroupDirectory {
    /// The ids of every group `user` is in (NSS: local, LDAP, SSSD), or nil when NSS knows no
    /// such account.
    func memberships(of user: String) -> [gid_t]?
    /// The id of group `name`, or nil when NSS knows no such group.
    func groupID(named name: String) -> gid_t?
}

/// `getgrouplist(3)` and `getgrnam_r(3)`.
public struct SystemGroups: GroupDirectory {
    public init() {}
    public func memberships(of user: String) -> [gid_t]? { UnixGroup.memberships(of: user) }
    public func groupID(named name: String) -> gid_t? { UnixGroup.id(of: name) }
}

/// Why a login is let through to the stack's other modules without being asked.
public enum Exemption: Equatable, CustomStringConvertible {
    /// In an excluded group, or in none of the listed ones.
    case groups(String)
    /// `PAM_RHOST` is a literal address inside `trusted_networks`, and pin=none.
    case trustedNetwork

    public var description: String {
        switch self {
        case .groups(let why): return why
        case .trustedNetwork: return "remote host in trusted_networks, pin=none: no code asked"
        }
    }
}

extension Authenticator {
    /// True when `PAM_RHOST` is a literal address inside `trusted_networks` (never a name).
    public var fromTrustedNetwork: Bool {
        config.trustedNetworks.contains(rhost: context.rhost)
    }

    /// The access rules (`groups`, `trusted_networks` with pin=none), decided before any store
    /// or mail work: an exemption means `PAM_IGNORE` (never success). Any doubt asks: a user NSS
    /// does not know, or a listed group it cannot resolve (a directory that is down), is asked.
    public func exemption(user given: String) -> Exemption? {
        if !config.groups.isEmpty, let why = groupExemption(user: accounts.canonicalName(given) ?? given) {
            log(.info, given, "ignored: \(why)")
            return .groups(why)
        }
        if pinMode == .none && fromTrustedNetwork {
            log(.info, given, "ignored: \(Exemption.trustedNetwork)")
            return .trustedNetwork
        }
        return nil
    }

    /// Why `user` is not asked under `groups`, or nil when they are.
    func groupExemption(user: String) -> String? {
        let rule = config.groups
        guard let mine = groups.memberships(of: user) else {
            log(.warning, user, "groups: no such account in NSS: asked")
            return nil
        }
        for name in rule.excluded {
            if let gid = groups.groupID(named: name), mine.contains(gid) {
                return "in excluded group \(LogText.quoted(name))"
            }
        }
        if rule.included.isEmpty { return nil }
        var unresolved = [String]()
        for name in rule.included {
            guard let gid = groups.groupID(named: name) else {
                unresolved.append(name)
                continue
            }
            if mine.contains(gid) { return nil }
        }
        if !unresolved.isEmpty {
            log(.warning, user, "groups: NSS knows no group \(unresolved.map(LogText.quoted).joined(separator: ", ")): asked")
            return nil
        }
        return "in none of the groups \(rule.included.map(LogText.quoted).joined(separator: ", "))"
    }
}
