import CShim

/// The randomness of codes, transaction ids, salts and keys; tests inject a fixed source.
public protocol RandomSource {
    /// `count` random bytes.
    func bytes(_ count: Int) throws -> [UInt8]
}

package struct RandomFailure: Error, CustomStringConvertible {
    package var description: String { "the random number generator failed" }
}

/// OpenSSL's CSPRNG (`RAND_bytes`).
package struct OpenSSLRandom: RandomSource {
    package init() {}

    package func bytes(_ count: Int) throws -> [UInt8] {
        guard count > 0, count <= Int(Int32.max) else { return [] }
        guard (try? Digest.loadLibcrypto()) != nil else { throw RandomFailure() }
        var out = [UInt8](repeating: 0, count: count)
        let ok = out.withUnsafeMutableBufferPointer { cshim_rand_bytes($0.baseAddress, Int32($0.count)) }
        guard ok == 1 else { throw RandomFailure() }
        return out
    }
}

extension RandomSource {
    /// `length` uniformly distributed decimal digits: bytes of 250 and above are rejected, so
    /// `byte % 10` has no modulo bias.
    package func digits(_ length: Int) throws -> String {
        var out = [UInt8]()
        out.reserveCapacity(length)
        var rounds = 0
        while out.count < length {
            rounds += 1
            guard rounds <= 64 else { throw RandomFailure() }
            for byte in try bytes(length * 2) where byte < 250 && out.count < length {
                out.append(0x30 + byte % 10)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
