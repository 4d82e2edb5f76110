import Glibc
import XCTest
@testable import EmailOTPCore

/// The layers of Sources/EmailOTPCore (docs/DESIGN.md, "Map"): a folder uses names of its own
/// and of the folders below it, never of a folder above it or of a peer. SwiftPM compiles the
/// core as one module, so the compiler cannot see this; the test reads the sources:
///
/// 1. every folder's *provided* names: top-level types and functions, and the members of its
///    extensions to types it does not declare itself (`extension String`, `extension
///    TokenRecord` in Flows, ...);
/// 2. every folder's *own* names: everything it declares at any depth (a member `open` of
///    System's FileDescriptor is not a use of Flows' `TokenRecord.open`);
/// 3. each identifier in a folder's code (comments removed) that another folder provides, and
///    that neither this folder nor one below it declares, must come from a folder below it.
///
/// It also checks that only PAMModule speaks PAM (no `pam_`/`PAM_` identifier elsewhere) and
/// which folders may import the C shim.
final class LayerTests: XCTestCase {
    /// Rank of each folder: a folder may use the names of folders of a lower rank.
    static let ranks = ["System": 0, "Crypto": 1, "Config": 2, "Store": 3, "Mail": 3, "Audit": 3, "Flows": 4, "Helper": 5]
    /// The folders that call C libraries through CShim.
    static let cshimUsers: Set<String> = ["Crypto", "Mail", "Store", "System"]

    static var root: String {
        // Tests/EmailOTPCoreTests/LayerTests.swift → the package directory.
        var parts = ByteText.split(#filePath, at: 0x2F).map(String.init)
        parts.removeLast(3)
        return parts.joined(separator: "/")
    }

    struct Folder {
        var name: String
        var code: [String: String] = [:]  // file → source without comments
        var provided = Set<String>()
        var declared = Set<String>()
    }

    static func read(_ path: String) throws -> String {
        let policy = FilePolicy(owner: geteuid(), forbiddenModeBits: 0, maxSize: 1 << 20)
        return try SafeFile.readText(path, policy: policy) ?? ""
    }

    /// Source without `//` comments (a `//` inside a string such as "smtp://" stays).
    static func stripComments(_ source: String) -> String {
        ByteText.lines(source).map { line -> String in
            var inString = false
            var previous: UInt8 = 0
            var cut = line.utf8.endIndex
            var index = line.utf8.startIndex
            while index < line.utf8.endIndex {
                let byte = line.utf8[index]
                if byte == 0x22 && previous != 0x5C { inString.toggle() }
                if !inString && byte == 0x2F && previous == 0x2F {
                    cut = line.utf8.index(before: index)
                    break
                }
                previous = byte
                index = line.utf8.index(after: index)
            }
            return String(line[line.startIndex..<cut])
        }.joined(separator: "\n")
    }

    /// `code` with the text of one-line string literals removed (interpolations go with it).
    static func stripStrings(_ code: String) -> String {
        ByteText.lines(code).map { line in
            var out = [UInt8]()
            var inString = false
            var previous: UInt8 = 0
            for byte in line.utf8 {
                if byte == 0x22 && previous != 0x5C { inString.toggle() } else if !inString { out.append(byte) }
                previous = byte
            }
            return String(decoding: out, as: UTF8.self)
        }.joined(separator: "\n")
    }

    /// The last group of each match of the POSIX extended `pattern` (the name is always the
    /// last group of our patterns; the ones before are modifiers).
    static func matches(_ pattern: String, in text: String) -> [String] {
        var regex = regex_t()
        guard regcomp(&regex, pattern, REG_EXTENDED | REG_NEWLINE) == 0 else { return [] }
        defer { regfree(&regex) }
        var out = [String]()
        let bytes = Array(text.utf8CString)
        var offset = 0
        var groups = [regmatch_t](repeating: regmatch_t(), count: 8)
        while offset < bytes.count - 1 {
            let found = bytes.withUnsafeBufferPointer { buffer in
                regexec(&regex, buffer.baseAddress! + offset, groups.count, &groups, offset == 0 ? 0 : REG_NOTBOL)
            }
            guard found == 0, let last = groups.dropFirst().lastIndex(where: { $0.rm_so >= 0 }) else { break }
            let start = offset + Int(groups[last].rm_so), end = offset + Int(groups[last].rm_eo)
            out.append(String(decoding: bytes[start..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self))
            offset += max(Int(groups[0].rm_eo), 1)
        }
        return out
    }

    static func identifiers(_ code: String) -> Set<String> {
        Set(matches("([A-Za-z_][A-Za-z0-9_]*)", in: code))
    }

    static func load(_ directory: String) throws -> [Folder] {
        var folders = [Folder]()
        for name in try SafeFile.list(directory) where !name.hasSuffix(".swift") {
            var folder = Folder(name: name)
            for file in try SafeFile.list("\(directory)/\(name)") where file.hasSuffix(".swift") {
                let code = stripComments(try read("\(directory)/\(name)/\(file)"))
                folder.code[file] = code
                let modifiers = "(public |internal |private |fileprivate |final |static |mutating |@discardableResult )*"
                folder.provided.formUnion(matches("^(\(modifiers))?(struct|enum|class|protocol|typealias) +([A-Za-z_][A-Za-z0-9_]*)", in: code))
                folder.provided.formUnion(matches("^(\(modifiers))?func +([A-Za-z_][A-Za-z0-9_]*)", in: code))
                folder.declared.formUnion(matches("(struct|enum|class|protocol|typealias|func|var|let|case) +([A-Za-z_][A-Za-z0-9_]*)", in: code))
            }
            folders.append(folder)
        }
        // Extension members count as provided when the extended type is declared elsewhere.
        for index in folders.indices {
            for code in folders[index].code.values {
                for block in extensionBlocks(code) where !folders[index].provided.contains(block.type) {
                    folders[index].provided.formUnion(block.members)
                }
            }
        }
        return folders
    }

    /// The extended type and the members (4-space indented declarations) of each top-level extension.
    static func extensionBlocks(_ code: String) -> [(type: String, members: Set<String>)] {
        var blocks = [(type: String, members: Set<String>)]()
        var current: (type: String, members: Set<String>)? = nil
        for line in ByteText.lines(code) {
            if let type = matches("^(public )?extension +([A-Za-z_][A-Za-z0-9_]*)", in: String(line)).first {
                if let done = current { blocks.append(done) }
                current = (type, [])
            } else if line.utf8.first == 0x7D {
                if let done = current { blocks.append(done) }
                current = nil
            } else if current != nil {
                let member = matches("^    (public |static |mutating |@discardableResult )*(func|var|let) +([A-Za-z_][A-Za-z0-9_]*)", in: String(line))
                current?.members.formUnion(member)
            }
        }
        if let done = current { blocks.append(done) }
        return blocks
    }

    func testNoFolderUsesANameOfAFolderAboveItOrOfAPeer() throws {
        let folders = try Self.load(Self.root + "/Sources/EmailOTPCore")
        XCTAssertEqual(Set(folders.map(\.name)), Set(Self.ranks.keys), "every folder of the core has a rank")
        var violations = [String]()
        for folder in folders {
            let rank = Self.ranks[folder.name] ?? 0
            let known = folders.filter { (Self.ranks[$0.name] ?? 0) < rank || $0.name == folder.name }
                .reduce(into: Set<String>()) { $0.formUnion($1.declared) }
            for other in folders where other.name != folder.name && (Self.ranks[other.name] ?? 0) >= rank {
                for (file, code) in folder.code.sorted(by: { $0.key < $1.key }) {
                    let used = Self.identifiers(code).intersection(other.provided).subtracting(known)
                    for name in used.sorted() {
                        violations.append("\(folder.name)/\(file) uses \(name) of \(other.name)/")
                    }
                }
            }
        }
        XCTAssertEqual(violations, [], "back-edges or peer edges:\n" + violations.joined(separator: "\n"))
    }

    func testTheCheckFindsABackEdge() throws {
        // A Store file that calls a Flows function must be reported: the check is not vacuous.
        let folders = try Self.load(Self.root + "/Sources/EmailOTPCore")
        let flows = try XCTUnwrap(folders.first { $0.name == "Flows" })
        XCTAssertTrue(flows.provided.contains("Authenticator"))
        XCTAssertTrue(flows.provided.contains("registerFailure"), "extension members count")
        let store = try XCTUnwrap(folders.first { $0.name == "Store" })
        let planted = Self.identifiers("let a = Authenticator(config: c)").intersection(flows.provided).subtracting(store.declared)
        XCTAssertEqual(planted, ["Authenticator"])
    }

    /// The core does not speak PAM (only PAMModule, and `emailotp demo` as a PAM application,
    /// do); only Crypto, Mail, Store (libpq) and System (Process: fork + exec) call C through CShim.
    func testTheCoreDoesNotSpeakPAM() throws {
        var violations = [String]()
        for target in ["EmailOTPCore"] {
            let base = Self.root + "/Sources/" + target
            var files = [String]()
            for entry in try SafeFile.list(base) {
                if entry.hasSuffix(".swift") { files.append(entry) } else {
                    files += try SafeFile.list("\(base)/\(entry)").filter { $0.hasSuffix(".swift") }.map { "\(entry)/\($0)" }
                }
            }
            for file in files {
                let code = Self.stripComments(try Self.read("\(base)/\(file)"))
                let pam = Self.identifiers(Self.stripStrings(code)).filter { $0.hasPrefix("pam_") || $0.hasPrefix("PAM_") }
                if !pam.isEmpty { violations.append("\(target)/\(file): \(pam.sorted())") }
                let folder = String(ByteText.split(file, at: 0x2F)[0])
                if target == "EmailOTPCore" && !Self.cshimUsers.contains(folder) && code.contains("import CShim") {
                    violations.append("\(target)/\(file) imports CShim")
                }
            }
        }
        XCTAssertEqual(violations, [])
    }
}
