#!/usr/bin/env bash
# Every test: unit tests (swift test), a bounded fuzz run of every parser (fuzz/run.sh, about a
# minute), then the integration suites against the installed module (real libpam, a loopback
# SMTP server, sshd, sudo, su). Run as root:
#   sudo tests/run-all.sh            installs the current tree first (./install.sh)
#   sudo tests/run-all.sh --no-install
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "tests/run-all.sh: run as root" >&2; exit 1; }
export PATH=/opt/swift/usr/bin:$PATH
if [ "${1:-}" != "--no-install" ]; then
    ./install.sh
fi
echo "== unit tests (swift test)"
swift test --disable-swift-testing
echo "== fuzz (fuzz/run.sh, bounded runs)"
fuzz/run.sh
echo "== integration tests (pytest, installed module)"
cd tests/integration
/usr/bin/python3 -m pytest -q -p no:cacheprovider -rs
