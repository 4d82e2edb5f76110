import EmailOTPConfig
import EmailOTPMail
import EmailOTPStore
import EmailOTPSystem
import EmailOTPToken
import Glibc

/// A line of an enrolment list that cannot be used: nothing is enrolled (exit 65).
package struct BulkLineError: Error, Equatable, CustomStringConvertible {
    package let line: Int
    package let reason: String
    /// Line 0: a member of a group, named in `reason`.
    package var description: String { line == 0 ? reason : "line \(line): \(reason)" }
}

/// One user of a bulk enrolment: the line it came from (0 for a group member) and the
/// address (empty: `address_command` names it for each mail).
package struct BulkEntry: Equatable {
    package var line: Int
    package var user: String
    package var email: String
}

/// What a bulk enrolment did with one user.
package enum BulkOutcome: Equatable {
    case enrolled
    /// Already enrolled with the same address (or both from `address_command`): left as it is.
    case unchanged
    /// Already enrolled with another address: left as it is.
    case conflict
}

/// `emailotp enroll --from FILE` and `--group NAME` (emailotp(8)): the whole list is checked
/// before anything is written, then each user is enrolled in one transaction of its own, only
/// if it has no token, so that a re-run changes nothing.
package enum BulkEnrolment {
    /// One `USER ADDRESS` pair a line (`USER` alone when `fromCommand`); `#` comments and blank
    /// lines skipped. Throws the first bad line: a name that cannot be enrolled, an address
    /// that is not a plain address, a field too many or missing, a user named twice.
    package static func parse(_ text: String, fromCommand: Bool) throws -> [BulkEntry] {
        var entries = [BulkEntry]()
        var seen = [String: Int]()
        for (offset, raw) in ByteText.lines(text, droppingCR: true).enumerated() {
            let number = offset + 1
            // A tab between the fields is a blank too.
            let line = String(String(raw).map { $0 == "\t" ? " " : $0 }).trimmedBlanks
            if line.isEmpty || ByteText.hasPrefix(line, "#") { continue }
            let fields = ByteText.split(line, at: ByteText.space).map(String.init).filter { !$0.isEmpty }
            let expected = fromCommand ? 1 : 2
            guard fields.count == expected else {
                throw BulkLineError(line: number, reason: fromCommand ? "expected a user name alone (--address-from-command)"
                                    : "expected a user name and an address")
            }
            let user = fields[0]
            do {
                try UserName.validate(user)
            } catch {
                throw BulkLineError(line: number, reason: "\(error)")
            }
            let email = fromCommand ? "" : fields[1]
            guard fromCommand || EmailAddress.isValid(email) else {
                throw BulkLineError(line: number, reason: "\"\(LogText.printable(email))\" is not a plain mail address (local@domain)")
            }
            if let first = seen[user] { throw BulkLineError(line: number, reason: "\(user) was named on line \(first) already") }
            seen[user] = number
            entries.append(BulkEntry(line: number, user: user, email: email))
        }
        return entries
    }

    /// The members of group `name`: its member list and the accounts whose primary group it
    /// is (`getgrnam_r(3)`, `getpwent(3)`), sorted, each once. nil when there is no such group.
    package static func members(ofGroup name: String) -> [String]? {
        guard let gid = UnixGroup.id(of: name) else { return nil }
        let names = Set(UnixGroup.memberNames(of: name)).union(Account.names(withPrimaryGroup: gid))
        return names.sorted()
    }

    /// The entries of a group's members, each with its address from `address_command`.
    package static func entries(forMembers members: [String]) throws -> [BulkEntry] {
        try members.map { member in
            guard (try? UserName.validate(member)) != nil else {
                throw BulkLineError(line: 0, reason: "member \"\(LogText.printable(member))\" cannot be enrolled")
            }
            return BulkEntry(line: 0, user: member, email: "")
        }
    }

    /// Checks that `address_command` gives every entry without an address one; throws the
    /// first that it does not (by line, or by name for a group member).
    package static func checkAddresses(_ entries: [BulkEntry], config: Config) throws {
        let command = AddressCommand(config: config)
        for entry in entries where entry.email.isEmpty {
            do {
                _ = try command.address(for: entry.user)
            } catch {
                throw BulkLineError(line: entry.line, reason: "\(entry.user): \(error)")
            }
        }
    }
}

extension TokenAdmin {
    /// Enrols `entry` unless it has a token; with `pending`, the enrolment waits for the
    /// user's first login. `pinHash` is nil: bulk enrolment sets no PIN.
    package func enroll(_ entry: BulkEntry, pending: Bool) throws -> BulkOutcome {
        try store.update(user: entry.user) { record in
            if let existing = record {
                return ByteText.same(existing.email, entry.email) ? .unchanged : .conflict
            }
            record = pending ? TokenRecord.pending(user: entry.user, email: entry.email)
                : TokenRecord(user: entry.user, email: entry.email, pinHash: nil)
            return .enrolled
        }
    }
}
