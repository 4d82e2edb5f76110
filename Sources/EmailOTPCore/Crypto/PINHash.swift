import CShim
import EmailOTPSystem
import Glibc

/// PIN hashes in crypt(3) format, yescrypt by default (libcrypt's `crypt_gensalt_rn`, `crypt_rn`).
package enum PINHash {
    /// PINs are 4 to 128 bytes without control characters.
    package static func validate(_ pin: String) -> String? {
        if pin.utf8.count < 4 { return "the PIN is shorter than 4 characters" }
        if pin.utf8.count > 128 { return "the PIN is longer than 128 bytes" }
        if pin.hasControlCharacters { return "the PIN holds control characters" }
        return nil
    }

    /// A new salted hash of `pin`.
    package static func make(_ pin: String, random: RandomSource) throws -> String {
        let salt = try random.bytes(32)
        var setting = [CChar](repeating: 0, count: Int(CRYPT_GENSALT_OUTPUT_SIZE))
        // crypt_gensalt_rn returns a pointer into `setting`: it is read while `setting` lives.
        let made: String? = salt.withUnsafeBufferPointer { saltBuffer in
            saltBuffer.withMemoryRebound(to: CChar.self) { saltChars in
                setting.withUnsafeMutableBufferPointer { output in
                    guard let base = output.baseAddress,
                          let written = crypt_gensalt_rn("$y$", 0, saltChars.baseAddress, Int32(saltChars.count), base, Int32(output.count))
                    else { return nil }
                    return String(cString: written)
                }
            }
        }
        guard let made = made else { throw CryptoFailure(what: "crypt_gensalt") }
        let hash = try crypt(pin, setting: made)
        guard ByteText.hasPrefix(hash, "$y$") else { throw CryptoFailure(what: "crypt") }
        return hash
    }

    /// How many verifications ran in this process: the unit tests compare the work done for
    /// unknown and enrolled users with it (no timing in tests).
    static var verifications = 0

    /// True when `pin` matches `hash`; compared in constant time. A hash that cannot be
    /// computed counts as no match (see `check` for the flows, where it must not).
    package static func verify(_ pin: String, hash: String) -> Bool {
        (try? check(pin, hash: hash)) ?? false
    }

    /// True when `pin` matches `hash`, compared in constant time; false for a hash that is not
    /// a well-formed crypt(3) hash. Throws `CryptoFailure` when the host could not compute it
    /// (yescrypt needs memory: under a low `RLIMIT_AS` it fails), which is a service error and
    /// says nothing about the PIN (`crypt_rn`).
    package static func check(_ pin: String, hash: String) throws -> Bool {
        verifications &+= 1
        // No enrolled PIN is longer than 128 bytes; a huge answer is not worth hashing.
        guard pin.utf8.count <= 1024 else { return false }
        let computed: String
        do {
            computed = try crypt(pin, setting: hash)
        } catch {
            if hostCannotHash(like: hash) { throw error }
            return false
        }
        guard !ByteText.hasPrefix(computed, "*") else { return false }
        return Digest.constantTimeEqual(Array(computed.utf8), Array(hash.utf8))
    }

    /// After `crypt_rn` failed on `setting` (it says EINVAL for a malformed hash and for a
    /// failed allocation alike): whether a well-formed setting of the same cost fails too,
    /// which puts the fault with the host, not with the hash.
    static func hostCannotHash(like setting: String) -> Bool {
        let fields = setting.split(separator: "$", omittingEmptySubsequences: false)
        let cost = fields.count >= 3 && fields[1] == "y" ? String(fields[2]) : "j9T"
        return (try? crypt("probe", setting: "$y$\(cost)$\(dummySalt)$")) == nil
    }

    static let dummySalt = "Hf1pK6qJfJ3nQx8iYz4Ku1"
    static let dummyHash = "$y$j9T$\(dummySalt)$0Ik1JK3vXSxRzDgDWQm8pZ0Wq1T6PnE4u6iGmDZ9yM1"

    /// Spends the time of one verification, so that an unknown user takes as long as a known one.
    package static func dummyVerify(_ pin: String) {
        _ = verify(pin, hash: dummyHash)
    }

    /// `dummyVerify` for the flows: throws like `check` when the hash cannot be computed, so
    /// that an unknown user answers a memory shortage like an enrolled one.
    package static func dummyCheck(_ pin: String) throws {
        _ = try check(pin, hash: dummyHash)
    }

    static func crypt(_ phrase: String, setting: String) throws -> String {
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        defer {
            CMemory.wipe(data, count: MemoryLayout<crypt_data>.size)
            data.deallocate()
        }
        CMemory.wipe(data, count: MemoryLayout<crypt_data>.size)
        guard let result = crypt_rn(phrase, setting, data, Int32(MemoryLayout<crypt_data>.size)) else {
            throw CryptoFailure(what: "crypt")
        }
        return String(cString: result)
    }
}
