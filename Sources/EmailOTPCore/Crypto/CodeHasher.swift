import EmailOTPSystem

/// The keyed hash under which a code is stored: HMAC-SHA-256 of transaction id, user and code.
package struct CodeHasher {
    let key: [UInt8]

    package init(key: [UInt8]) {
        self.key = key
    }

    package func hash(code: String, transactionID: String, user: String) throws -> String {
        Hex.encode(try Digest.hmacSHA256(key: key, message: Array("\(transactionID):\(user):\(code)".utf8)))
    }

    /// True when `code` hashes to `storedHash`; compared in constant time.
    package func matches(code: String, transactionID: String, user: String, storedHash: String) -> Bool {
        guard let computed = try? hash(code: code, transactionID: transactionID, user: user) else { return false }
        return Digest.constantTimeEqual(Array(computed.utf8), Array(storedHash.utf8))
    }
}
