import EmailOTPCore

/// `emailotp show` prints when a cached grant was made and when it expires, never its hash.
extension CachedGrant {
    var json: JSON {
        .object([("granted", .string(TimeFormat.iso8601(granted))), ("expires", .string(TimeFormat.iso8601(expires)))])
    }
}
