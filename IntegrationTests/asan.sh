#!/usr/bin/env bash
# The AddressSanitizer run (run-all.sh calls it after the other suites): a -sanitize=address
# build of the tree (.build-asan), then the unit suite, `emailotp demo` and the suites that drive
# a login through the module (interactive and challenge mode, the module loaded into the test's
# own process through real libpam, the ASan runtime preloaded) against that build. Any ASan
# report (a read after free, a pointer used outside the lifetime of its buffer, an overflow)
# fails the run. Run as root, after ./install.sh (the suites enrol with the installed emailotp).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "IntegrationTests/asan.sh: run as root" >&2; exit 1; }
scratch=.build-asan
# Package.swift: the module takes the ASan runtime from the process that loads it.
export EMAILOTP_SANITIZE=address
swift=$(command -v swift)
runtime=$(ls "$(dirname "$(readlink -f "$swift")")"/../lib/clang/*/lib/linux/libclang_rt.asan-x86_64.so 2>/dev/null | head -n 1)
[ -n "$runtime" ] || { echo "asan.sh: no libclang_rt.asan-x86_64.so in the toolchain of $swift" >&2; exit 1; }
reports=$(mktemp -d /tmp/emailotp-asan.XXXXXX)
trap 'rm -rf "$reports"' EXIT
# Leak checking stays off: the Swift runtime keeps its metadata caches for the process's life.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:log_path=$reports/asan"

check_reports() {
    if compgen -G "$reports/asan.*" >/dev/null; then
        echo "asan.sh: AddressSanitizer reported ($1):" >&2
        cat "$reports"/asan.* >&2
        exit 1
    fi
}

echo "== asan: build (debug, -sanitize=address)"
swift build --build-tests --sanitize=address --scratch-path "$scratch"
bin=$(swift build --sanitize=address --scratch-path "$scratch" --show-bin-path)

echo "== asan: unit tests"
swift test --skip-build --sanitize=address --scratch-path "$scratch" --disable-swift-testing
check_reports "unit tests"

echo "== asan: emailotp demo"
"$bin/emailotp" demo --module "$bin/libpam_emailotp.so"
check_reports "emailotp demo"

echo "== asan: logins through the module (interactive, challenge)"
(cd IntegrationTests &&
    EMAILOTP_MODULE="$bin/libpam_emailotp.so" LD_PRELOAD="$runtime" \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider test_pam_interactive.py test_pam_challenge.py)
check_reports "logins through the module"
echo "asan: no report"
