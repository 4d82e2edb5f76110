// swift-tools-version:5.9
import PackageDescription

// The module must be one self-contained object that libpam can dlopen and dlclose:
// only pam_sm_* exported, and never unloaded (Swift code cannot be unmapped safely).
// EMAILOTP_SANITIZE=address: the AddressSanitizer build of the tests (IntegrationTests/asan.sh,
// `swift build --sanitize=address`), whose module takes the ASan runtime from the process that
// loads it (the sanitized emailotp, or an LD_PRELOAD), so its __asan_* symbols stay undefined.
let sanitized = Context.environment["EMAILOTP_SANITIZE"] == "address"
let moduleLinkerFlags: [String] = [
    "-Xlinker", "--version-script=\(Context.packageDirectory)/CShim/entry/exports.map",
    "-Xlinker", "-z", "-Xlinker", "nodelete",
] + (sanitized ? [] : [
    // Every symbol must resolve at link time: a libcurl call that bypassed the loader
    // (CShim/shim/curl_loader.c) would otherwise only fail when libpam loads the module.
    "-Xlinker", "-z", "-Xlinker", "defs",
]) + [
    // libstdc++ linked in statically (see the script in that directory), and the unwinder
    // from libgcc_eh.a, so that libgcc_s.so.1 (and its CPUID probe at load) is not needed.
    "-L\(Context.packageDirectory)/link/static-libstdc++",
    "-Xlinker", "-lgcc_eh",
    // The Swift runtime brings ~18,500 relative relocations: packed as DT_RELR (glibc >= 2.36)
    // they take 3 KB instead of 445 KB of the file that every load reads. gold cannot pack them;
    // GNU ld can, but Swift's objects have a writable .rodata, which makes GNU ld drop the RELRO
    // segment. lld (in the toolchain) packs them and keeps RELRO; -z now costs nothing, libpam
    // loads modules with RTLD_NOW.
    "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
    "-Xlinker", "-z", "-Xlinker", "relro", "-Xlinker", "-z", "-Xlinker", "now",
]

// The commands as well: with GNU ld (swiftlang's default on Debian 13) Swift's writable .rodata
// costs them their RELRO segment, which lintian reports (hardening-no-relro).
let executableLinkerFlags: [String] = [
    "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "relro", "-Xlinker", "-z", "-Xlinker", "now",
]

// The installation layout, the one build option (docs/packaging.md): EMAILOTP_PREFIX in the
// environment of `swift build`. /usr/local (the default) is install.sh's layout, /usr the Debian
// package's. The helper lives in PREFIX/libexec; /usr and /usr/local share /etc and /var
// (the FHS), any other prefix keeps its configuration and store under itself.
let prefix = Context.environment["EMAILOTP_PREFIX"].map { $0.hasSuffix("/") && $0.count > 1 ? String($0.dropLast()) : $0 } ?? "/usr/local"
let systemRoot = (prefix == "/usr" || prefix == "/usr/local") ? "" : prefix
let layoutDefines: [CSetting] = [
    .define("EMAILOTP_HELPER_PATH", to: "\"\(prefix)/libexec/emailotp-helper\""),
    .define("EMAILOTP_CONFIG_PATH", to: "\"\(systemRoot)/etc/security/emailotp.conf\""),
    .define("EMAILOTP_STORE_PATH", to: "\"\(systemRoot)/var/lib/emailotp\""),
]

// The C parts are built with the hardening flags of Debian's dpkg-buildflags (hardening=+all),
// in every build: install.sh's and the package's. Release only: _FORTIFY_SOURCE needs -O.
let cHardening: [CSetting] = [
    .unsafeFlags(["-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-Wformat", "-Werror=format-security"],
                 .when(configuration: .release)),
]

// The layers are separate modules; without cross-module optimisation the generic text helpers
// of EmailOTPSystem (ByteText.split over StringProtocol, ...) would run unspecialised in the
// module, through witness tables and runtime conformance lookups. It skips `package` declarations:
// the ones a hot path calls across layers are `@usableFromInline package` (docs/DESIGN.md, "Map").
let coreSettings: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]

let package = Package(
    name: "pam_emailotp",
    products: [
        .library(name: "pam_emailotp", type: .dynamic, targets: ["PAMModule"]),
        .executable(name: "emailotp", targets: ["emailotp"]),
        .executable(name: "emailotp-helper", targets: ["emailotp-helper"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(
            name: "CShim",
            path: "CShim/shim",
            cSettings: layoutDefines + cHardening,
            linkerSettings: [.linkedLibrary("crypt")]
        ),
        // libpam only for the module and the command's demo: the core cannot import it.
        .target(name: "CPAM", path: "CShim/pam", cSettings: cHardening, linkerSettings: [.linkedLibrary("pam")]),
        .target(name: "CPAMEntry", path: "CShim/entry", exclude: ["exports.map"], cSettings: cHardening),
        // The core, one target per layer and folder of Sources/EmailOTPCore (docs/DESIGN.md,
        // "Map"): a target imports only the ones below it, so the compiler refuses a back-edge.
        .target(name: "EmailOTPSystem", dependencies: ["CShim"], path: "Sources/EmailOTPCore/System", swiftSettings: coreSettings),
        .target(name: "EmailOTPCrypto", dependencies: ["EmailOTPSystem", "CShim"], path: "Sources/EmailOTPCore/Crypto", swiftSettings: coreSettings),
        // CShim: the build's layout (BuildLayout.swift, CShim/shim/build_paths.c).
        .target(name: "EmailOTPConfig", dependencies: ["EmailOTPSystem", "EmailOTPCrypto", "CShim"], path: "Sources/EmailOTPCore/Config", swiftSettings: coreSettings),
        // The record and its rules, as pure functions of a record and the time.
        .target(
            name: "EmailOTPToken",
            dependencies: ["EmailOTPSystem", "EmailOTPCrypto", "EmailOTPConfig"],
            path: "Sources/EmailOTPCore/Token",
            swiftSettings: coreSettings
        ),
        .target(
            name: "EmailOTPStore",
            dependencies: ["EmailOTPSystem", "EmailOTPCrypto", "EmailOTPConfig", "EmailOTPToken", "CShim"],
            path: "Sources/EmailOTPCore/Store",
            swiftSettings: coreSettings
        ),
        .target(
            name: "EmailOTPMail",
            dependencies: ["EmailOTPSystem", "EmailOTPCrypto", "EmailOTPConfig", "EmailOTPToken", "CShim"],
            path: "Sources/EmailOTPCore/Mail",
            swiftSettings: coreSettings
        ),
        // The use cases: Authenticator and its flows.
        .target(
            name: "EmailOTPFlows",
            dependencies: ["EmailOTPSystem", "EmailOTPCrypto", "EmailOTPConfig", "EmailOTPToken", "EmailOTPStore", "EmailOTPMail"],
            path: "Sources/EmailOTPCore/Flows",
            swiftSettings: coreSettings
        ),
        // What the module and the setuid helper say to each other.
        .target(
            name: "EmailOTPHelper",
            dependencies: ["EmailOTPSystem", "EmailOTPCrypto", "EmailOTPConfig", "EmailOTPToken", "EmailOTPStore", "EmailOTPMail", "EmailOTPFlows"],
            path: "Sources/EmailOTPCore/Helper",
            swiftSettings: coreSettings
        ),
        // What the module and the helper link: the layers above, re-exported.
        .target(
            name: "EmailOTPCore",
            dependencies: ["EmailOTPSystem", "EmailOTPCrypto", "EmailOTPConfig", "EmailOTPToken", "EmailOTPStore", "EmailOTPMail", "EmailOTPFlows", "EmailOTPHelper"],
            path: "Sources/EmailOTPCore/Core",
            swiftSettings: coreSettings
        ),
        // Code only `emailotp` runs, never linked into the module or the helper: config-check's
        // reading of PAM stacks, sshd_config and sudoers (Audit/), and the admin verbs' rules,
        // store-init's DDL and send-test's message (Admin/).
        .target(
            name: "EmailOTPAudit",
            dependencies: ["EmailOTPSystem", "EmailOTPCrypto", "EmailOTPConfig"],
            path: "Sources/EmailOTPCore/Audit",
            swiftSettings: coreSettings
        ),
        .target(
            name: "EmailOTPAdmin",
            dependencies: ["EmailOTPSystem", "EmailOTPCrypto", "EmailOTPConfig", "EmailOTPToken", "EmailOTPStore", "EmailOTPMail"],
            path: "Sources/EmailOTPCore/Admin",
            swiftSettings: coreSettings
        ),
        // A user's verbs on their own token, which the helper serves (and `emailotp` prints the
        // status of): never linked into the module.
        .target(
            name: "EmailOTPOwnToken",
            dependencies: ["EmailOTPSystem", "EmailOTPCrypto", "EmailOTPConfig", "EmailOTPToken", "EmailOTPStore", "EmailOTPMail",
                           "EmailOTPFlows", "EmailOTPHelper"],
            path: "Sources/EmailOTPCore/OwnToken",
            swiftSettings: coreSettings
        ),
        .target(
            name: "PAMModule",
            dependencies: ["EmailOTPCore", "CShim", "CPAM", "CPAMEntry"],
            linkerSettings: [.unsafeFlags(moduleLinkerFlags)]
        ),
        .executableTarget(
            name: "emailotp",
            dependencies: [
                "EmailOTPCore", "EmailOTPAudit", "EmailOTPAdmin", "EmailOTPOwnToken", "CShim", "CPAM",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            linkerSettings: [.unsafeFlags(executableLinkerFlags)]
        ),
        // The helper (pam_emailotp(8), PROCESS MODEL): no argument parser, nothing but the core.
        .executableTarget(name: "emailotp-helper", dependencies: ["EmailOTPCore", "EmailOTPOwnToken", "CShim", "CHelperStart"],
                         linkerSettings: [.unsafeFlags(executableLinkerFlags)]),
        // The helper's first code (a constructor): never linked into the module.
        .target(name: "CHelperStart", dependencies: ["CShim"], path: "CShim/helper"),
        .testTarget(name: "EmailOTPCoreTests", dependencies: ["EmailOTPCore", "EmailOTPAudit", "EmailOTPAdmin", "EmailOTPOwnToken", "CShim"]),
    ]
)
