#!/usr/bin/env bash
# Builds the Debian package libpam-emailotp_<version>_<arch>.deb (docs/packaging.md):
#   ./packaging/build-deb.sh              into the top of the source tree
#   ./packaging/build-deb.sh --out DIR    into DIR
# It copies the tree (tracked and new files, not .build) into a temporary directory and runs
# `dpkg-buildpackage -us -uc -b` there, so that a build never sees a developer's .build and
# dpkg-buildpackage's by-products (.buildinfo, .changes) stay out of the parent directory.
# Needs the Swift toolchain (Debian 13: swiftlang; Debian 12: swift on PATH or /opt/swift, as
# install.sh, with the build profile pkg.libpam-emailotp.noswiftlang) and the build
# dependencies of debian/control (`apt-get build-dep ./` or the list in docs/packaging.md).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out=$here
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$(cd "${2:?--out needs a directory}" && pwd); shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "build-deb.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

command -v swift >/dev/null || export PATH=/opt/swift/usr/bin:$PATH
command -v swift >/dev/null || { echo "build-deb.sh: no Swift toolchain (swift on PATH or /opt/swift)" >&2; exit 1; }
command -v dpkg-buildpackage >/dev/null || { echo "build-deb.sh: dpkg-buildpackage missing: apt-get install dpkg-dev debhelper" >&2; exit 1; }

work=$(mktemp -d /tmp/libpam-emailotp-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
if git -C "$here" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$here" && git ls-files -z --cached --others --exclude-standard) | (cd "$here" && xargs -0 tar -cf - --no-recursion --ignore-failed-read) | tar -xf - -C "$work/src"
else
    tar -C "$here" --exclude='./.build*' -cf - . | tar -xf - -C "$work/src"
fi
# Debian 12 has no swiftlang: the build profile drops that Build-Depends (debian/control).
profiles=()
if ! dpkg-query -W -f='${Status}' swiftlang 2>/dev/null | grep -q 'install ok installed'; then
    profiles=(--build-profiles=pkg.libpam-emailotp.noswiftlang)
fi
(cd "$work/src" && dpkg-buildpackage -us -uc -b "${profiles[@]}")
for deb in "$work"/*.deb; do
    cp "$deb" "$out/"
    echo "build-deb.sh: $out/$(basename "$deb")"
done
