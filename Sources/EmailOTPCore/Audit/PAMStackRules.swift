import EmailOTPConfig
import EmailOTPSystem

/// The rules `emailotp config-check` applies to each `auth` stack that uses pam_emailotp: the
/// ways a stack lets the second factor be skipped or bypassed. Rule names are listed in
/// emailotp(8).
package enum PAMStackRules {
    /// Failures pam_emailotp returns (PAM_IGNORE, for nullok, is the nullok rule's business).
    static let failureValues = ["auth_err", "user_unknown", "authinfo_unavail", "service_err", "conv_err"]

    /// Modules that set PAM_AUTHTOK in the auth stack, for a later `use_first_pass`.
    static let passwordSetters: Set<String> = [
        "pam_unix.so", "pam_unix2.so", "pam_sss.so", "pam_ldap.so", "pam_krb5.so", "pam_winbind.so",
        "pam_systemd_home.so", "pam_userdb.so", "pam_radius_auth.so", "pam_tacplus.so", "pam_tcb.so",
        "pam_pwdb.so", "pam_authtok_get.so",
    ]

    /// Where a line sits: the items of its (sub)stack and its index there, outermost first.
    typealias Frame = (items: [PAMStackItem], index: Int)

    package static func usesModule(_ stack: [PAMStackItem]) -> Bool {
        !occurrences(stack, frames: []).isEmpty
    }

    /// True when a pam_emailotp line without `nullok` is in the stack: users without a token
    /// cannot pass it.
    package static func requiresToken(_ stack: [PAMStackItem]) -> Bool {
        occurrences(stack, frames: []).contains { !ByteText.isOne("nullok", of: $0.rule.arguments) }
    }

    package static func check(service: String, stack: [PAMStackItem]) -> [Finding] {
        var findings = [Finding]()
        for (rule, frames) in occurrences(stack, frames: []) {
            func report(_ id: String, _ severity: Finding.Severity, _ at: PAMRule?, _ message: String) {
                let place = at ?? rule
                findings.append(Finding(id, severity, file: place.file, line: place.line, message, services: [service]))
            }
            let options: ModuleOptions
            do {
                options = try ModuleOptions(arguments: rule.arguments)
            } catch {
                report("bad-argument", .problem, nil, "\(error): the module refuses every login of this stack")
                continue
            }
            if let passing = failurePasses(rule, frames) { report("failure-passes", .problem, nil, passing) }
            if options.nullok, rule.control.action("ignore") == .ignore || rule.control.action("ignore") == .ok,
               let grant = grantAfter(frames) {
                report("nullok-then-grant", .problem, nil,
                       "nullok: a user without a token is ignored, and \(grant.moduleName) at \(grant.file):\(grant.line) then grants on its own")
            }
            for frame in frames {
                for (position, earlier) in frame.items[..<frame.index].enumerated() {
                    guard case .rule(let other) = earlier else { continue }
                    if other.moduleName == "pam_rootok.so" {
                        report("rootok-skips", .note, other, "pam_rootok: a caller that is already root skips pam_emailotp at \(rule.file):\(rule.line)")
                        continue
                    }
                    if let how = skips(other, position: position, target: frame.index) {
                        report("success-skips-module", .problem, other, "\(other.moduleName) (\(other.controlText)): \(how), past pam_emailotp at \(rule.file):\(rule.line)")
                    }
                }
            }
            if options.firstPass == .use, options.pinMode == .token,
               !earlierRules(frames).contains(where: { passwordSetters.contains($0.moduleName) }) {
                report("use-first-pass-unset", .problem, nil, "use_first_pass, but no earlier module sets the password (PAM_AUTHTOK): every login fails")
            }
        }
        return findings
    }

    /// How a failure of the module itself can pass, or nil.
    static func failurePasses(_ rule: PAMRule, _ frames: [Frame]) -> String? {
        guard let frame = frames.last else { return nil }
        for value in failureValues {
            let action = rule.control.action(value)
            switch action {
            case .ignore, .reset:
                if !denies(frame.items, at: frame.index + 1) {
                    return "\(rule.controlText): a failure (\(value)) is \(action == .ignore ? "ignored" : "forgotten"), the other modules decide"
                }
            case .jump(let count):
                if !denies(frame.items, at: frame.index + count + 1) {
                    return "\(rule.controlText): a failure (\(value)) jumps \(count) line(s) on instead of failing the stack"
                }
            case .ok:
                if let grant = grantAfter(frames) {
                    return "\(rule.controlText): a failure (\(value)) is kept only as ok, and \(grant.moduleName) at \(grant.file):\(grant.line) can override it"
                }
            case .done, .bad, .die:
                continue
            }
        }
        return nil
    }

    /// True when the item at `index` is a pam_deny line that fails the stack.
    static func denies(_ items: [PAMStackItem], at index: Int) -> Bool {
        guard index < items.count, case .rule(let rule) = items[index], rule.moduleName == "pam_deny.so" else { return false }
        let action = rule.control.action("auth_err")
        return action == .bad || action == .die
    }

    /// The first line after the module (in its stack, then after each enclosing substack)
    /// that grants on its own: pam_permit, or a module whose success ends the stack.
    static func grantAfter(_ frames: [Frame]) -> PAMRule? {
        for frame in frames.reversed() {
            for item in frame.items[(frame.index + 1)...] {
                if let rule = granting(item) { return rule }
            }
        }
        return nil
    }

    static func granting(_ item: PAMStackItem) -> PAMRule? {
        switch item {
        case .rule(let rule):
            if rule.moduleName == "pam_deny.so" || rule.moduleName == "pam_rootok.so" || rule.isEmailOTP { return nil }
            let success = rule.control.action("success")
            if rule.moduleName == "pam_permit.so" && success != .bad && success != .die { return rule }
            return success == .done ? rule : nil
        case .substack(_, let items):
            for inner in items { if let rule = granting(inner), rule.moduleName == "pam_permit.so" { return rule } }
            return nil
        }
    }

    /// How a line at `position` jumps or ends the stack past `target` on success, or nil.
    static func skips(_ rule: PAMRule, position: Int, target: Int) -> String? {
        if rule.moduleName == "pam_deny.so" { return nil }
        for value in ["success", "new_authtok_reqd"] where rule.control.action(value) == .done {
            return "its \(value) ends the stack"
        }
        let pairs: [(String, PAMAction)] = rule.control.named.isEmpty
            ? [("success", rule.control.action("success"))] : rule.control.named
        for (value, action) in pairs {
            if case .jump(let count) = action, position + count + 1 > target {
                return "\(value)=\(count) jumps"
            }
        }
        return nil
    }

    /// Every rule that runs before the module, substacks included.
    static func earlierRules(_ frames: [Frame]) -> [PAMRule] {
        var out = [PAMRule]()
        for frame in frames { out += flattened(Array(frame.items[..<frame.index])) }
        return out
    }

    static func flattened(_ items: [PAMStackItem]) -> [PAMRule] {
        items.flatMap { item -> [PAMRule] in
            switch item {
            case .rule(let rule): return [rule]
            case .substack(_, let inner): return flattened(inner)
            }
        }
    }

    /// Each pam_emailotp line with the frames that lead to it.
    static func occurrences(_ items: [PAMStackItem], frames: [Frame]) -> [(rule: PAMRule, frames: [Frame])] {
        var out = [(rule: PAMRule, frames: [Frame])]()
        for (index, item) in items.enumerated() {
            let here = frames + [(items: items, index: index)]
            switch item {
            case .rule(let rule) where rule.isEmailOTP: out.append((rule, here))
            case .rule: continue
            case .substack(_, let inner): out += occurrences(inner, frames: here)
            }
        }
        return out
    }
}
