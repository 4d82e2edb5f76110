import CShim
import EmailOTPSystem
import Glibc

/// PIN hashes in crypt(3) format, yescrypt by default (libcrypt's `crypt_gensalt_rn`, `crypt_rn`).
public enum PINHash {
    /// PINs are 4 to 128 bytes without control characters.
    public static func validate(_ pin: String) -> String? {
        if pin.utf8.count < 4 { return "the PIN is shorter than 4 characters" }
        if pin.utf8.count > 128 { return "the PIN is longer than 128 bytes" }
        if pin.hasControlCharacters { return "the PIN holds control characters" }
        return nil
    }

    /// A new salted hash of `pin`.
    public static func make(_ pin: String, random: RandomSource) throws -> String {
        let salt = try random.bytes(32)
        var setting = [CChar](repeating: 0, count: Int(CRYPT_GENSALT_OUTPUT_SIZE))
        let made = salt.withUnsafeBufferPointer { saltBuffer in
            saltBuffer.withMemoryRebound(to: CChar.self) { saltChars in
                crypt_gensalt_rn("$y$", 0, saltChars.baseAddress, Int32(saltChars.count), &setting, Int32(setting.count))
            }
        }
        guard made != nil else { throw CryptoFailure(what: "crypt_gensalt") }
        let hash = try crypt(pin, setting: String(cString: setting))
        guard ByteText.hasPrefix(hash, "$y$") else { throw CryptoFailure(what: "crypt") }
        return hash
    }

    /// How many verifications ran in this process: the unit tests compare the work done for
    /// unknown and enrolled users with it (no timing in tests).
    static var verifications = 0

    /// True when `pin` matches `hash`; compared in constant time.
    public static func verify(_ pin: String, hash: String) -> Bool {
        verifications &+= 1
        // No enrolled PIN is longer than 128 bytes; a huge answer is not worth hashing.
        guard pin.utf8.count <= 1024 else { return false }
        guard let computed = try? crypt(pin, setting: hash), !ByteText.hasPrefix(computed, "*") else { return false }
        return Digest.constantTimeEqual(Array(computed.utf8), Array(hash.utf8))
    }

    /// Spends the time of one verification, so that an unknown user takes as long as a known one.
    public static func dummyVerify(_ pin: String) {
        _ = verify(pin, hash: "$y$j9T$Hf1pK6qJfJ3nQx8iYz4Ku1$0Ik1JK3vXSxRzDgDWQm8pZ0Wq1T6PnE4u6iGmDZ9yM1")
    }

    static func crypt(_ phrase: String, setting: String) throws -> String {
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        defer {
            memset(data, 0, MemoryLayout<crypt_data>.size)
            data.deallocate()
        }
        memset(data, 0, MemoryLayout<crypt_data>.size)
        guard let result = crypt_rn(phrase, setting, data, Int32(MemoryLayout<crypt_data>.size)) else {
            throw CryptoFailure(what: "crypt")
        }
        return String(cString: result)
    }
}
