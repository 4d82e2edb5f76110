// swift-tools-version:5.9
import PackageDescription

// The module must be one self-contained object that libpam can dlopen and dlclose:
// only pam_sm_* exported, and never unloaded (Swift code cannot be unmapped safely).
let moduleLinkerFlags: [String] = [
    "-Xlinker", "--version-script=\(Context.packageDirectory)/CShim/entry/exports.map",
    "-Xlinker", "-z", "-Xlinker", "nodelete",
    // Every symbol must resolve at link time: a libcurl call that bypassed the loader
    // (CShim/shim/curl_loader.c) would otherwise only fail when libpam loads the module.
    "-Xlinker", "-z", "-Xlinker", "defs",
    // libstdc++ linked in statically (see the script in that directory), and the unwinder
    // from libgcc_eh.a, so that libgcc_s.so.1 (and its CPUID probe at load) is not needed.
    "-L\(Context.packageDirectory)/link/static-libstdc++",
    "-Xlinker", "-lgcc_eh",
    // The Swift runtime brings ~18,500 relative relocations: packed as DT_RELR (glibc >= 2.36)
    // they take 3 KB instead of 445 KB of the file that every load reads. gold cannot pack them.
    "-use-ld=bfd", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
]

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
            linkerSettings: [.linkedLibrary("crypt")]
        ),
        // libpam only for the module and the command's demo: the core cannot import it.
        .target(name: "CPAM", path: "CShim/pam", linkerSettings: [.linkedLibrary("pam")]),
        .target(name: "CPAMEntry", path: "CShim/entry", exclude: ["exports.map"]),
        .target(name: "EmailOTPCore", dependencies: ["CShim"]),
        .target(
            name: "PAMModule",
            dependencies: ["EmailOTPCore", "CShim", "CPAM", "CPAMEntry"],
            linkerSettings: [.unsafeFlags(moduleLinkerFlags)]
        ),
        .executableTarget(
            name: "emailotp",
            dependencies: [
                "EmailOTPCore", "CShim", "CPAM",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The helper (pam_emailotp(8), PROCESS MODEL): no argument parser, nothing but the core.
        .executableTarget(name: "emailotp-helper", dependencies: ["EmailOTPCore", "CShim", "CHelperStart"]),
        // The helper's first code (a constructor): never linked into the module.
        .target(name: "CHelperStart", dependencies: ["CShim"], path: "CShim/helper"),
        .testTarget(name: "EmailOTPCoreTests", dependencies: ["EmailOTPCore", "CShim"]),
    ]
)
