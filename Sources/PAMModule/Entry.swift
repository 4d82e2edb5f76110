import CPAM
import EmailOTPCore

/// `pam_sm_authenticate`, called by the C entry point in CShim/entry. Every path ends in a
/// precise PAM code; nothing returns success by default.
@_cdecl("emailotp_authenticate")
public func emailotp_authenticate(_ pamh: OpaquePointer?, _ flags: Int32, _ argc: Int32,
                                  _ argv: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
    guard let handle = pamh else { return PAM_SERVICE_ERR }
    let session = PAMSession(handle: handle, flags: flags)
    var arguments = [String]()
    if let argv = argv, argc > 0 {
        for index in 0..<Int(argc) {
            if let argument = argv[index] { arguments.append(String(cString: argument)) }
        }
    }
    let code = authenticate(session: session, arguments: arguments)
    session.debugLog("done. [\(String(cString: pam_strerror(handle, code)))]")
    return code
}

/// The PAM code of one `pam_sm_authenticate` call.
func authenticate(session: PAMSession, arguments: [String]) -> Int32 {
    let options: ModuleOptions
    do {
        options = try ModuleOptions(arguments: arguments)
    } catch {
        session.log(.error, "bad module arguments: \(error)")
        return PAM_SERVICE_ERR
    }
    session.debug = options.debug

    let user: String
    switch session.user() {
    case .failed(let status):
        session.log(.error, "could not get the user name: \(String(cString: pam_strerror(session.handle, status)))")
        delayEarlyFailure(session)
        return userLookupCode(status)
    case .notUTF8:
        // String(cString:) would turn every invalid byte into U+FFFD: two different names
        // would share one token.
        session.log(.notice, "refused: the user name is not valid UTF-8")
        delayEarlyFailure(session)
        return PAM_USER_UNKNOWN
    case .name(let name):
        user = name
    }
    switch ProcessPlace.current() {
    case .application:
        break
    case .cleanProcess:
        // The unenrolled/nullok answer only reads: it may be given here, without a process.
        if options.nullok, isUnenrolledInProcess(session: session, options: options, user: user) { return PAM_IGNORE }
        return applied(loginThroughHelper(session: session, options: options, arguments: arguments, user: user, clean: true), session)
    case .setuidHelper:
        return applied(loginThroughHelper(session: session, options: options, arguments: arguments, user: user, clean: false), session)
    }
    let config: Config
    do {
        config = try ConfigLoader().load(path: options.configPath, explicit: options.configExplicit,
                                         overrides: options.overrides)
    } catch {
        session.log(.error, "configuration refused: \(error)")
        delayEarlyFailure(session)
        return PAM_SERVICE_ERR
    }
    session.debugLog("user=\(LogText.quoted(user)): config \(options.configPath), mode=\(options.mode.rawValue), "
        + "pin=\(options.pinMode.rawValue), nullok=\(options.nullok), store \(StoreLocation.shown(config.store)), transport \(config.transportDescription)")
    let context = RequestContext(service: session.item(PAM_SERVICE) ?? "", rhost: session.item(PAM_RHOST) ?? "",
                                 quiet: session.quiet, tty: session.item(PAM_TTY) ?? "", ruser: session.item(PAM_RUSER) ?? "")
    let authenticator = PAMLogin.system(config: config, pinMode: options.pinMode, logger: session, context: context)
    let result = PAMLogin.run(authenticator, options: options, user: user, conversation: session, authtok: session.item(PAM_AUTHTOK))
    session.delayFailure(seconds: PAMLogin.failDelay(after: result, openedChallenge: session.openedChallenge, config: config))
    return pamCode(result)
}

/// A failure before the configuration is read waits the default delay.
func delayEarlyFailure(_ session: PAMSession) {
    session.delayFailure(seconds: PAMLogin.failDelay(after: .serviceError, openedChallenge: false, config: Config()))
}

/// The helper's result, with the fail delay it asks for.
func applied(_ outcome: HelperProtocol.Outcome, _ session: PAMSession) -> Int32 {
    session.delayFailure(seconds: outcome.failDelay)
    return pamCode(outcome.result)
}

/// True when the user has no token and `nullok` lets the login pass, read in the application's
/// process (a file store only: libpq never runs there). Any doubt is false and the helper decides.
func isUnenrolledInProcess(session: PAMSession, options: ModuleOptions, user: String) -> Bool {
    guard let config = try? ConfigLoader().load(path: options.configPath, explicit: options.configExplicit,
                                                overrides: options.overrides) else { return false }
    let context = RequestContext(service: session.item(PAM_SERVICE) ?? "", rhost: session.item(PAM_RHOST) ?? "")
    return PAMLogin.isUnenrolledUnderNullok(config: config, user: user, logger: session, context: context)
}

/// A failed `pam_get_user` keeps its own meaning: a conversation that failed or was aborted is
/// not an unknown user. `PAM_CONV_AGAIN` asks the application to call again (`PAM_INCOMPLETE`,
/// pam_get_user(3)); `PAM_ABORT`, `PAM_BUF_ERR`, `PAM_CONV_ERR` and `PAM_SYSTEM_ERR` pass through.
func userLookupCode(_ status: Int32) -> Int32 {
    switch status {
    case PAM_CONV_AGAIN: return PAM_INCOMPLETE
    case PAM_ABORT, PAM_BUF_ERR, PAM_CONV_ERR, PAM_SYSTEM_ERR, PAM_SERVICE_ERR: return status
    default: return PAM_SERVICE_ERR
    }
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
