/// The release of pam_emailotp (module, `emailotp`, helper); `emailotp --version` prints it.
public enum EmailOTPVersion {
    public static let current = "1.0.0"
}
