import CShim

package struct CryptoFailure: Error, CustomStringConvertible {
    package let what: String
    package var description: String { "\(what) failed" }
}

/// Keyed hashes and constant-time comparison (OpenSSL).
package enum Digest {
    /// HMAC-SHA-256 of `message` under `key` (`HMAC` with `EVP_sha256`).
    package static func hmacSHA256(key: [UInt8], message: [UInt8]) throws -> [UInt8] {
        try loadLibcrypto()
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let result = key.withUnsafeBytes { keyBuffer in
            message.withUnsafeBytes { messageBuffer in
                out.withUnsafeMutableBufferPointer { outBuffer in
                    cshim_hmac_sha256(keyBuffer.baseAddress, Int32(keyBuffer.count),
                                      messageBuffer.baseAddress?.assumingMemoryBound(to: UInt8.self), messageBuffer.count,
                                      outBuffer.baseAddress, &length)
                }
            }
        }
        guard result == 1, length == 32 else { throw CryptoFailure(what: "HMAC-SHA-256") }
        return out
    }

    /// Loads libcrypto and makes a process's first HMAC, whose provider fetch is most of its
    /// cost, so that the HMACs made later under a user's lock are short. A failure here is left
    /// to those HMACs, which meet it again and answer for it.
    package static func prepare() {
        _ = try? hmacSHA256(key: [0], message: [])
    }

    /// Compares two byte strings in time that depends only on their length (`cshim_timingsafe_bcmp`).
    package static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in cshim_timingsafe_bcmp(x.baseAddress, y.baseAddress, x.count) == 0 }
        }
    }

    /// libcrypto is loaded on first use, not with the module (`cshim_crypto_load`).
    static func loadLibcrypto() throws {
        var reason = [CChar](repeating: 0, count: 512)
        guard cshim_crypto_load(&reason, reason.count) == 0 else {
            throw CryptoFailure(what: "loading libcrypto [\(String(cString: reason))]")
        }
    }
}
