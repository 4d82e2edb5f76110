import CShim
import EmailOTPConfig
import EmailOTPSystem
import Glibc

/// Why `address_command` gave no address; the mail is not sent.
package struct AddressCommandError: Error, CustomStringConvertible, Equatable {
    package let reason: String
    package init(_ reason: String) { self.reason = reason }
    package var description: String { "address_command: \(reason)" }
}

/// `address_command`, in the manner of sshd's `AuthorizedKeysCommand`: for a token enrolled
/// without an address, a root-owned program that no one else can change is run without a
/// shell, as `address_command_user`, with the user name as its only argument and a fixed
/// environment; its one line of output, checked like any address, is where the code goes.
/// Anything else — a failure, a timeout, two lines, too much output — gives no address.
package struct AddressCommand {
    package static let maxOutput = 1024
    static let environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"]

    let path: String
    let runAs: String
    let timeout: Int64

    package init(config: Config) {
        path = config.addressCommand
        runAs = config.addressCommandUser
        timeout = config.addressCommandTimeout
    }

    package func address(for user: String) throws -> String {
        guard !path.isEmpty else { throw AddressCommandError("the token has no address and address_command is not set") }
        let program = try Self.trustedProgram(path)
        let (account, groups) = try Self.account(runAs)
        let (reader, writer) = try ChildIO.pipe()
        let deadline = Deadline(afterSeconds: timeout)
        let (output, status): ((bytes: [UInt8], timedOut: Bool), ChildStatus) = try keepingChildStatus {
            let child: ChildProcess
            do {
                child = try ChildProcess.spawn(program, arguments: [user], environment: Self.environment, stdout: writer.raw,
                                               as: .account(uid: account.uid, gid: account.gid, groups: groups))
            } catch {
                throw AddressCommandError("cannot run \(program): \(error)")
            }
            writer.closeNow()
            let output = ChildIO.readAll(reader.raw, limit: Self.maxOutput, until: deadline)
            if output.timedOut || output.bytes.count > Self.maxOutput { child.killGroup() }
            return (output, child.wait(until: deadline))
        }
        if output.timedOut || status == .timedOut {
            throw AddressCommandError("\(program) did not finish within \(timeout) seconds and was killed")
        }
        if output.bytes.count > Self.maxOutput {
            throw AddressCommandError("\(program) printed more than \(Self.maxOutput) bytes")
        }
        switch status {
        case .exited(0): break
        case .exited(let code): throw AddressCommandError("\(program) exited with status \(code)")
        case .signaled(let signal): throw AddressCommandError("\(program) was killed by signal \(signal)")
        case .timedOut, .notWaitable: throw AddressCommandError("\(program) could not be waited for")
        }
        return try Self.address(fromOutput: output.bytes, program: program)
    }

    /// The output must be one address on one line: an optional final LF, nothing else.
    package static func address(fromOutput bytes: [UInt8], program: String) throws -> String {
        var line = bytes
        if line.last == 0x0A { line.removeLast() }
        if line.isEmpty { throw AddressCommandError("\(program) printed no address") }
        if line.contains(0x0A) { throw AddressCommandError("\(program) printed more than one line") }
        if line.contains(0x0D) { throw AddressCommandError("\(program) printed a carriage return") }
        guard let text = String(validating: line, as: UTF8.self) else {
            throw AddressCommandError("\(program) printed bytes that are not UTF-8")
        }
        guard EmailAddress.isValid(text) else {
            throw AddressCommandError("\(program) printed \"\(LogText.printable(text))\", which is not a plain mail address")
        }
        return text
    }

    /// The program and every directory above it must be root's and writable by no one else
    /// (sshd's rule for AuthorizedKeysCommand); symbolic links are resolved first.
    package static func trustedProgram(_ path: String) throws -> String {
        guard ByteText.hasPrefix(path, "/") else { throw AddressCommandError("\(path) is not an absolute path") }
        guard let resolved = SafeFile.realPath(path) else { throw AddressCommandError(SystemError("realpath", path).description) }
        var info = try existing(resolved)
        guard info.st_mode & S_IFMT == S_IFREG else { throw AddressCommandError("\(resolved) is not a regular file") }
        guard info.st_mode & 0o111 != 0 else { throw AddressCommandError("\(resolved) is not executable") }
        try checkOwner(resolved, info)
        var directory = resolved
        while let slash = directory.utf8.lastIndex(of: 0x2F) {
            directory = slash == directory.startIndex ? "/" : String(directory[..<slash])
            info = try existing(directory)
            try checkOwner(directory, info)
            if directory == "/" { break }
        }
        return resolved
    }

    /// The status of `path` (`stat(2)`); a missing path is an error too.
    static func existing(_ path: String) throws -> stat {
        do {
            guard let info = try SafeFile.status(path) else {
                throw AddressCommandError(SystemError("stat", path, code: ENOENT).description)
            }
            return info
        } catch let error as SystemError {
            throw AddressCommandError(error.description)
        }
    }

    static func checkOwner(_ path: String, _ info: stat) throws {
        guard info.st_uid == 0 else { throw AddressCommandError("\(path) is not owned by root") }
        guard info.st_mode & 0o022 == 0 else { throw AddressCommandError("\(path) is writable by group or others") }
    }

    /// The account `address_command` runs as by default: a system account of its own, so
    /// that no other process shares its uid (another `nobody` process, an OpenVPN daemon or an
    /// NFS-squashed one, could ptrace the command and change the address it prints).
    package static let defaultUser = "emailotp-lookup"

    /// What `emailotp config-check` says about `address_command_user`, when `address_command` is
    /// set: a problem when the account does not exist (every such mail fails), a warning for
    /// `nobody`; nil when there is nothing to say.
    package static func accountWarning(_ config: Config) -> (problem: Bool, message: String)? {
        guard !config.addressCommand.isEmpty else { return nil }
        let name = config.addressCommandUser
        if (try? account(name)) == nil {
            return (true, "address_command_user \(LogText.printable(name)) does not exist: no code can be mailed to tokens "
                + "enrolled with --address-from-command (install.sh and the package create \(defaultUser))")
        }
        if name == "nobody" {
            return (false, "address_command_user = nobody: other processes run as nobody (NFS root squash, daemons that drop "
                + "to it) and can trace address_command and change the address it prints; use a dedicated account such as \(defaultUser)")
        }
        return nil
    }

    /// The account and its groups (`Account.lookup`, `Account.groupList`).
    static func account(_ name: String) throws -> (account: Account, groups: [gid_t]) {
        guard let account = Account.lookup(name: name) else {
            throw AddressCommandError("address_command_user \(LogText.printable(name)) does not exist")
        }
        guard let groups = account.groupList() else {
            throw AddressCommandError("cannot list the groups of \(LogText.printable(name))")
        }
        return (account, groups)
    }
}
