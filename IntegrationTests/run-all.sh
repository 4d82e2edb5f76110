#!/usr/bin/env bash
# Every test: unit tests (swift test), a bounded fuzz run of every parser (fuzz/run.sh, about a
# minute), then the integration suites against the installed module (real libpam, a loopback
# SMTP server, sshd, sudo, su), the package suites (IntegrationTests/package; among them Debian 13
# from source: install.sh with swiftlang, the unit suite, the .deb built there, lintian and its
# package cycle with sudo-rs, test_trixie_source.py), the AddressSanitizer run (asan.sh) and the
# package built here in a Debian 13 root. Run as root:
#   sudo IntegrationTests/run-all.sh            installs the current tree first (./install.sh)
#   sudo IntegrationTests/run-all.sh --no-install
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "IntegrationTests/run-all.sh: run as root" >&2; exit 1; }
export PATH=/opt/swift/usr/bin:$PATH
# The packages the tests need (IntegrationTests/packages.txt): a fresh Debian 12 gets them here, so this
# command works by itself, not only under .ci/run.
missing=()
while read -r package; do
    case "$package" in ''|'#'*) continue ;; esac
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done < IntegrationTests/packages.txt
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing test packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}"
fi
if [ "${1:-}" != "--no-install" ]; then
    ./install.sh
fi
echo "== unit tests (swift test)"
swift test --disable-swift-testing
echo "== fuzz (fuzz/run.sh, bounded runs)"
fuzz/run.sh
echo "== integration tests (pytest, installed module)"
cd IntegrationTests
# The Debian package is built once (packaging/build-deb.sh) for the package suites of both runs
# below, and their mmdebstrap roots are cached for this run (IntegrationTests/package).
scratch=$(mktemp -d /tmp/emailotp-run-all.XXXXXX)
trap 'rm -rf --one-file-system "$scratch"' EXIT
if [ -z "${EMAILOTP_DEB:-}" ]; then
    mkdir "$scratch/deb"
    ../packaging/build-deb.sh --out "$scratch/deb"
    EMAILOTP_DEB=$(ls "$scratch"/deb/libpam-emailotp_*.deb)
    export EMAILOTP_DEB
fi
export EMAILOTP_CHROOT_CACHE=${EMAILOTP_CHROOT_CACHE:-$scratch/chroots}
# A /dev of their own (private-dev.sh): the suites that capture syslog lines bind /dev/log there
# even where a syslog daemon owns the machine's.
./private-dev.sh /usr/bin/python3 -m pytest -q -p no:cacheprovider -rs
echo "== AddressSanitizer: unit tests, emailotp demo, logins through the module (asan.sh)"
./asan.sh
echo "== the package built on Debian 12 in a Debian 13 root (package/test_package_cycle.py)"
EMAILOTP_PACKAGE_SUITE=trixie /usr/bin/python3 -m pytest -q -p no:cacheprovider -rs package/test_package_cycle.py
