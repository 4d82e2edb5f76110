import CShim

/// The paths compiled in from the build's layout (EMAILOTP_PREFIX, Package.swift;
/// docs/packaging.md): install.sh builds /usr/local's, the Debian package /usr's.
package enum BuildLayout {
    /// The setuid helper (pam_emailotp(8), Challenge mode).
    package static let helperPath = String(cString: cshim_build_helper_path())
    /// `emailotp.conf` when neither `config=` nor `--config` names another.
    package static let configPath = String(cString: cshim_build_config_path())
    /// The `store` key's default.
    package static let storePath = String(cString: cshim_build_store_path())
}
