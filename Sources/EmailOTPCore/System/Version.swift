/// The release of pam_emailotp (module, `emailotp`, helper); `emailotp --version` prints it.
package enum EmailOTPVersion {
    package static let current = "1.0.0"
}
