import CShim
import EmailOTPCore

/// `pam_sm_authenticate`, called by the C entry point in CShim/entry. Every path ends in a
/// precise PAM code; nothing returns success by default.
@_cdecl("emailotp_authenticate")
public func emailotp_authenticate(_ pamh: OpaquePointer?, _ flags: Int32, _ argc: Int32,
                                  _ argv: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
    guard let handle = pamh else { return PAM_SERVICE_ERR }
    let session = PAMSession(handle: handle)
    var arguments = [String]()
    if let argv = argv, argc > 0 {
        for index in 0..<Int(argc) {
            if let argument = argv[index] { arguments.append(String(cString: argument)) }
        }
    }
    let result = authenticate(session: session, arguments: arguments)
    let code = pamCode(result)
    session.debugLog("done. [\(String(cString: pam_strerror(handle, code)))]")
    return code
}

func authenticate(session: PAMSession, arguments: [String]) -> AuthResult {
    let options: ModuleOptions
    do {
        options = try ModuleOptions(arguments: arguments)
    } catch {
        session.log(.error, "bad module arguments: \(error)")
        return .serviceError
    }
    session.debug = options.debug

    let user: String
    switch session.user() {
    case .none:
        session.log(.error, "could not get the user name")
        session.delayFailure(seconds: Config().failDelay)
        return .userUnknown
    case .some(.none):
        // String(cString:) would turn every invalid byte into U+FFFD: two different names
        // would share one token.
        session.log(.notice, "refused: the user name is not valid UTF-8")
        session.delayFailure(seconds: Config().failDelay)
        return .userUnknown
    case .some(.some(let name)):
        user = name
    }
    if needsHelper(options) {
        return helperChallenge(session: session, options: options, arguments: arguments, user: user)
    }
    let config: Config
    do {
        config = try ConfigLoader().load(path: options.configPath, explicit: options.configExplicit,
                                         overrides: options.overrides)
    } catch {
        session.log(.error, "configuration refused: \(error)")
        session.delayFailure(seconds: Config().failDelay)
        return .serviceError
    }
    session.debugLog("user=\(LogText.quoted(user)): config \(options.configPath), mode=\(options.mode.rawValue), "
        + "pin=\(options.pinMode.rawValue), nullok=\(options.nullok), store \(config.store), transport \(config.transportDescription)")
    let context = RequestContext(service: session.item(PAM_SERVICE) ?? "", rhost: session.item(PAM_RHOST) ?? "")
    let authenticator = Authenticator(config: config, pinMode: options.pinMode,
                                      store: StoreLocation.open(config), clock: SystemClock(),
                                      random: OpenSSLRandom(), mailer: makeMailer(config),
                                      logger: session, context: context)
    let stackPIN = options.firstPass == .no ? nil : session.item(PAM_AUTHTOK)
    let result: AuthResult
    switch options.mode {
    case .interactive:
        result = authenticator.interactive(user: user, conversation: session, nullok: options.nullok,
                                           stackPIN: stackPIN, firstPass: options.firstPass,
                                           authtok: session.item(PAM_AUTHTOK))
    case .challenge:
        result = authenticator.challenge(user: user, conversation: session, nullok: options.nullok,
                                         stackPIN: stackPIN, firstPass: options.firstPass)
    }
    // libpam waits this long after a failed stack, so guessing costs time (pam_fail_delay(3)).
    // The first step of challenge mode is no failure: servers that wait for PAM (OpenVPN
    // without deferred auth, nginx workers) would stall on it (SPEC §12).
    if result != .success && result != .ignore && !session.openedChallenge {
        session.delayFailure(seconds: config.failDelay)
    }
    return result
}

func pamCode(_ result: AuthResult) -> Int32 {
    switch result {
    case .success: return PAM_SUCCESS
    case .authError: return PAM_AUTH_ERR
    case .userUnknown: return PAM_USER_UNKNOWN
    case .ignore: return PAM_IGNORE
    case .unavailable: return PAM_AUTHINFO_UNAVAIL
    case .serviceError: return PAM_SERVICE_ERR
    case .conversationError: return PAM_CONV_ERR
    }
}
