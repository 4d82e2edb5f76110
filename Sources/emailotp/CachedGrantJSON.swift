import EmailOTPCore

/// `emailotp show` prints when a cached grant was made, when it expires and whether it was made
/// without a remote host, never its hash.
extension CachedGrant {
    var json: JSON {
        .object([("granted", .string(TimeFormat.iso8601(granted))), ("expires", .string(TimeFormat.iso8601(expires))),
                 ("without_remote_host", .bool(withoutRemoteHost))])
    }
}
