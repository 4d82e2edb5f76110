import EmailOTPSystem
import Glibc

/// One result of `emailotp config-check`'s reading of the PAM stacks, sshd_config and sudoers.
package struct Finding: Equatable {
    package enum Severity: String {
        /// The second factor can be skipped or bypassed: exit status 1.
        case problem
        /// Worth knowing, changes nothing by itself (exit status unchanged).
        case note
    }

    package var rule: String
    package var severity: Severity
    package var file: String
    /// 0 when the finding is about the whole file.
    package var line: Int
    package var message: String
    /// The PAM services the finding applies to (empty for sshd_config and sudoers).
    package var services: [String]

    package init(_ rule: String, _ severity: Severity, file: String, line: Int, _ message: String, services: [String] = []) {
        self.rule = rule
        self.severity = severity
        self.file = file
        self.line = line
        self.message = message
        self.services = services
    }

    package var location: String { line > 0 ? "\(file):\(line)" : file }
}

/// A file or directory the audit was told to read and cannot: exit status 2.
package struct AuditReadError: Error, CustomStringConvertible {
    package let message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}

/// How the audit reads files: the real file system in the command, a dictionary in unit tests.
package protocol AuditFiles {
    /// The file's text; nil when it does not exist. Throws when it exists but cannot be read.
    func read(_ path: String) throws -> String?
    /// The names in a directory, sorted; nil when it does not exist.
    func list(_ directory: String) throws -> [String]?
}

/// Reads configuration files as they are (they need not be root-only to be audited).
package struct SystemAuditFiles: AuditFiles {
    package init() {}

    package func read(_ path: String) throws -> String? {
        // Symbolic links are followed: /etc often links its files elsewhere.
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, flags: O_RDONLY | O_NONBLOCK, followingLinks: true)
        } catch let error as SystemError {
            if error.code == ENOENT || error.code == ENOTDIR { return nil }
            throw AuditReadError("cannot read \(error)")
        }
        do {
            let info = try fd.status()
            // A directory where a file may be (a glob match, a sub-directory of pam.d) is no file.
            if info.st_mode & S_IFMT == S_IFDIR { return nil }
            guard info.st_mode & S_IFMT == S_IFREG else { throw AuditReadError("\(path) is not a regular file") }
            return String(decoding: try fd.readAll(limit: 4 * 1024 * 1024), as: UTF8.self)
        } catch let error as AuditReadError {
            throw error
        } catch {
            throw AuditReadError("cannot read \(path): \(error)")
        }
    }

    package func list(_ directory: String) throws -> [String]? {
        let status: stat?
        do {
            status = try SafeFile.status(directory)
        } catch {
            throw AuditReadError("cannot read \(directory): \(error)")
        }
        guard let info = status else { return nil }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw AuditReadError("\(directory) is not a directory") }
        do {
            return try SafeFile.list(directory)
        } catch {
            throw AuditReadError("cannot read \(directory): \(error)")
        }
    }
}

/// Splits a configuration text into lines, with 1-based numbers; CRLF ends a line too.
func numberedLines(_ text: String) -> [(number: Int, text: String)] {
    ByteText.lines(text, droppingCR: true).enumerated().map { (number: $0.offset + 1, text: String($0.element)) }
}

/// Splits on blanks (spaces and tabs).
func blankSeparated(_ text: String) -> [String] {
    ByteText.words(text).map(String.init)
}

/// `dir/name`, or `name` itself when it is absolute.
func joinedPath(_ directory: String, _ name: String) -> String {
    if ByteText.hasPrefix(name, "/") { return name }
    return ByteText.hasSuffix(directory, "/") ? directory + name : directory + "/" + name
}
