import CShim
import EmailOTPConfig
import EmailOTPSystem
import Glibc

/// SMTP through libcurl: `mail_tls` none / starttls (required) / tls, certificate and host name
/// verification, AUTH when `mail_user` is set, one deadline for the whole exchange, no signals.
package struct SMTPMailer: Mailer {
    let config: Config

    /// Debian's system trust store (libcurl's compiled-in defaults), named so that nothing
    /// from the environment can replace it.
    static let systemCAFile = "/etc/ssl/certs/ca-certificates.crt"
    static let systemCAPath = "/etc/ssl/certs"

    /// The URL libcurl connects to.
    package var url: String {
        var host = config.mailServer
        if ByteText.contains(host, byte: 0x3A) && !ByteText.hasPrefix(host, "[") { host = "[\(host)]" }
        let scheme = config.mailTLS == .tls ? "smtps" : "smtp"
        return "\(scheme)://\(host):\(config.effectivePort)/\(Host.name().isEmpty ? "localhost" : Host.name())"
    }

    /// One deadline, `mail_timeout` from the call, for the whole exchange: connect, greeting,
    /// TLS, every command and its reply, the message and the reply to its end. The mail is sent
    /// once that reply accepted it; the connection is then shut down before libcurl's QUIT, whose
    /// reply nobody waits for (a server that never answers QUIT holds no login).
    package func send(_ mail: OutgoingMail) throws {
        let deadline = Deadline(afterSeconds: config.mailTimeout)
        try Self.loadLibcurl()
        guard let curl = cshim_curl_easy_init() else { throw MailError("curl_easy_init failed") }
        defer {
            _ = cshim_curl_shutdown_connection(curl)
            Signals.withSIGPIPEBlocked { cshim_curl_easy_cleanup(curl) }
        }
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }
        let recipients: UnsafeMutablePointer<curl_slist>? = cshim_curl_slist_append(nil, "<\(mail.to)>")
        defer { cshim_curl_slist_free_all(recipients) }
        guard recipients != nil else { throw MailError("curl_slist_append failed") }

        let body = MessageBody(Array(mail.text.bytesWithCRLFLineEnds()))
        let bodyPointer = Unmanaged.passUnretained(body).toOpaque()

        var steps: [(String, CURLcode)] = [
            ("URL", cshim_curl_setopt_string(curl, CURLOPT_URL, url)),
            ("NOSIGNAL", cshim_curl_setopt_long(curl, CURLOPT_NOSIGNAL, 1)),
            // What is left of the deadline (libcurl's clock starts at perform, a little later).
            ("TIMEOUT_MS", cshim_curl_setopt_long(curl, CURLOPT_TIMEOUT_MS, Int(max(1, deadline.remaining)))),
            ("CONNECTTIMEOUT_MS", cshim_curl_setopt_long(curl, CURLOPT_CONNECTTIMEOUT_MS, Int(max(1, deadline.remaining)))),
            // Bounds a reply's wait where CURLOPT_TIMEOUT does not apply (a QUIT sent while the
            // connection closes, should its socket still be open); libcurl's default is 120 s.
            ("SERVER_RESPONSE_TIMEOUT", cshim_curl_setopt_long(curl, CURLOPT_SERVER_RESPONSE_TIMEOUT, Int(config.mailTimeout))),
            ("ERRORBUFFER", cshim_curl_setopt_pointer(curl, CURLOPT_ERRORBUFFER, UnsafeMutableRawPointer(errorBuffer))),
            ("MAIL_FROM", cshim_curl_setopt_string(curl, CURLOPT_MAIL_FROM, "<\(mail.from)>")),
            ("MAIL_RCPT", cshim_curl_setopt_pointer(curl, CURLOPT_MAIL_RCPT, UnsafeMutableRawPointer(recipients))),
            ("UPLOAD", cshim_curl_setopt_long(curl, CURLOPT_UPLOAD, 1)),
            ("READFUNCTION", cshim_curl_setopt_read_function(curl, readCallback)),
            ("READDATA", cshim_curl_setopt_pointer(curl, CURLOPT_READDATA, bodyPointer)),
            ("SSL_VERIFYPEER", cshim_curl_setopt_long(curl, CURLOPT_SSL_VERIFYPEER, 1)),
            ("SSL_VERIFYHOST", cshim_curl_setopt_long(curl, CURLOPT_SSL_VERIFYHOST, 2)),
            ("PROTOCOLS", cshim_curl_setopt_string(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps")),
            // The environment belongs to the person logging in (su keeps it): libcurl must not
            // take a proxy or a CA store from it (docs/DESIGN.md, Environment).
            ("PROXY", cshim_curl_setopt_string(curl, CURLOPT_PROXY, "")),
            ("NOPROXY", cshim_curl_setopt_string(curl, CURLOPT_NOPROXY, "*")),
            ("CAINFO", cshim_curl_setopt_string(curl, CURLOPT_CAINFO,
                                                config.mailCAFile.isEmpty ? SMTPMailer.systemCAFile : config.mailCAFile)),
            ("CAPATH", cshim_curl_setopt_string(curl, CURLOPT_CAPATH, SMTPMailer.systemCAPath)),
        ]
        if config.mailTLS != .none {
            steps.append(("USE_SSL", cshim_curl_setopt_long(curl, CURLOPT_USE_SSL, cshim_curl_usessl_all())))
        }
        if !config.mailUser.isEmpty {
            steps.append(("USERNAME", cshim_curl_setopt_string(curl, CURLOPT_USERNAME, config.mailUser)))
            steps.append(("PASSWORD", cshim_curl_setopt_string(curl, CURLOPT_PASSWORD, config.mailPassword)))
        }
        for (name, code) in steps where code != CURLE_OK {
            throw MailError("curl option \(name): \(String(cString: cshim_curl_easy_strerror(code)))")
        }
        let result = withExtendedLifetime(body) { Signals.withSIGPIPEBlocked { cshim_curl_easy_perform(curl) } }
        guard result == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            let reason = detail.isEmpty ? String(cString: cshim_curl_easy_strerror(result)) : detail
            throw MailError("SMTP to \(config.mailServer):\(config.effectivePort) failed: \(reason)")
        }
    }
}

extension SMTPMailer {
    /// libcurl is loaded on the first SMTP mail, not with the module (`cshim_curl_load`).
    static func loadLibcurl() throws {
        var reason = [CChar](repeating: 0, count: 512)
        guard cshim_curl_load(&reason, reason.count) == 0 else {
            throw MailError("mail_transport=smtp needs libcurl (\(CSHIM_CURL_SONAME), package libcurl4): \(String(cString: reason))")
        }
    }
}

/// The message bytes libcurl pulls through the read callback.
final class MessageBody {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }
}

private let readCallback: curl_read_callback = { buffer, size, count, userdata in
    guard let buffer = buffer, let userdata = userdata else { return 0 }
    let body = Unmanaged<MessageBody>.fromOpaque(userdata).takeUnretainedValue()
    let (capacity, overflow) = size.multipliedReportingOverflow(by: count)
    guard !overflow else { return 0 }
    let length = min(capacity, body.bytes.count - body.offset)
    guard length > 0 else { return 0 }
    body.bytes.withUnsafeBytes { source in
        guard let base = source.baseAddress else { return }
        UnsafeMutableRawPointer(buffer).copyMemory(from: base + body.offset, byteCount: length)
    }
    body.offset += length
    return length
}

extension String {
    /// The UTF-8 bytes with every `\n` line end written as `\r\n`, as SMTP wants; a leading
    /// `.` stays (libcurl dot-stuffs).
    func bytesWithCRLFLineEnds() -> [UInt8] {
        var out = [UInt8]()
        for byte in utf8 {
            if byte == 0x0A { out.append(0x0D) }
            out.append(byte)
        }
        return out
    }
}
