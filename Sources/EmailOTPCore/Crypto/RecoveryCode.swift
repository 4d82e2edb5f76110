import EmailOTPSystem

/// Recovery codes (emailotp(8), recovery-codes): 10 characters of Crockford's base32 alphabet, shown as
/// `xxxxx-xxxxx`, at least one of them a letter.
///
/// Why that is enough: 32^10 = 2^50 codes, of which a user holds at most 20. Every wrong
/// answer counts a failure and `max_fail` of them lock the token, so with the defaults
/// (10 failures, 900 s unlock) an attacker gets about 960 guesses a day and a chance of
/// 10 × 960 × 3650 / 2^50 ≈ 3·10⁻⁸ in ten years. Even with `max_fail = 1000` and
/// `unlock_time = 1` (about 1000 guesses a second) a year of guessing hits with ≈ 3·10⁻⁴.
///
/// The letter keeps the shape apart from a mailed code (`otp_length` digits), so the slow
/// check against the stored hashes runs only for answers that can be a recovery code.
package enum RecoveryCode {
    /// No I, L, O, U: nothing to misread.
    static let alphabet = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)
    package static let length = 10
    package static let maxCount = 20

    /// `count` fresh codes in display form. A byte's low five bits pick a symbol: 256 is a
    /// multiple of 32, so every symbol is equally likely (no modulo bias). A draw of digits
    /// only is drawn again, which keeps the remaining codes uniform.
    package static func generate(count: Int, random: RandomSource) throws -> [String] {
        guard (0...maxCount).contains(count) else { throw CryptoFailure(what: "drawing \(count) recovery codes") }
        var codes = [String]()
        var rounds = 0
        while codes.count < count {
            rounds += 1
            guard rounds <= count * 4 + 16 else { throw RandomFailure() }
            let bytes = try random.bytes(length)
            guard bytes.count == length else { throw RandomFailure() }
            let symbols = bytes.map { alphabet[Int($0 & 0x1F)] }
            guard symbols.contains(where: { $0 >= 0x61 }) else { continue }
            let code = String(decoding: symbols, as: UTF8.self)
            guard !codes.contains(code) else { continue }
            codes.append(code)
        }
        return codes.map(display)
    }

    /// `abcde12345` → `abcde-12345`.
    package static func display(_ code: String) -> String {
        let bytes = Array(code.utf8)
        return String(decoding: bytes.prefix(5), as: UTF8.self) + "-" + String(decoding: bytes.dropFirst(5), as: UTF8.self)
    }

    /// The canonical form of an answer that has the shape of a recovery code (case and `-`
    /// or blanks do not matter), or nil.
    package static func normalized(_ answer: String) -> String? {
        guard answer.utf8.count <= 32 else { return nil }
        var out = [UInt8]()
        for byte in answer.utf8 where byte != 0x2D && byte != 0x20 && byte != 0x09 {
            let lower = (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
            guard alphabet.contains(lower) else { return nil }
            out.append(lower)
        }
        guard out.count == length, out.contains(where: { $0 >= 0x61 }) else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    /// A slow salted hash (yescrypt, like PINs).
    package static func hash(_ code: String, random: RandomSource) throws -> String {
        guard let canonical = normalized(code) else { throw CryptoFailure(what: "recovery code shape") }
        return try PINHash.make(canonical, random: random)
    }

    /// The index of the hash `canonical` matches, or nil. Every hash is computed, whatever
    /// matched, so the time depends only on how many codes are left, not on which one this is.
    package static func match(_ canonical: String, hashes: [String]) -> Int? {
        (try? check(canonical, hashes: hashes)) ?? nil
    }

    /// `match` for the flows: throws `CryptoFailure` when a hash cannot be computed (`PINHash.check`).
    package static func check(_ canonical: String, hashes: [String]) throws -> Int? {
        var found: Int? = nil
        for (index, hash) in hashes.enumerated() {
            let hit = try PINHash.check(canonical, hash: hash)
            if hit && found == nil { found = index }
        }
        return found
    }

    /// A password of challenge mode that ends in a recovery code (with or without its `-`):
    /// the PIN before it and the code. nil when the end has no recovery-code shape.
    package static func split(_ password: String) -> (pin: String, code: String)? {
        let bytes = Array(password.utf8)
        for tail in [length + 1, length] where bytes.count > tail {
            let code = String(decoding: bytes.suffix(tail), as: UTF8.self)
            guard normalized(code) != nil, !ByteText.contains(code, byte: ByteText.space) else { continue }
            if tail == length + 1 && bytes[bytes.count - 6] != 0x2D { continue }
            return (String(decoding: bytes.dropLast(tail), as: UTF8.self), code)
        }
        return nil
    }
}
