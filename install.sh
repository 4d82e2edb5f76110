#!/usr/bin/env bash
# Builds and installs pam_emailotp on Debian/Ubuntu (see README.md).
#   sudo ./install.sh               install (or upgrade)
#   sudo ./install.sh --uninstall   remove what it installed; keep configuration and store
#   sudo ./install.sh --uninstall --purge   also remove /etc/security/emailotp.conf and /var/lib/emailotp
# It never edits /etc/pam.d/sshd, /etc/pam.d/sudo or sshd_config.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prefix=/usr/local
sbin=$prefix/sbin
# The setuid-root helper for PAM applications that do not run as root (pam_emailotp(8), Challenge mode); the module
# has this path compiled in (ModuleOptions.defaultHelperPath).
helper=$prefix/libexec/emailotp-helper
mandir=$prefix/share/man
config=/etc/security/emailotp.conf
store=/var/lib/emailotp
service=/etc/pam.d/emailotp
profile=/usr/share/pam-configs/emailotp

say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (sudo ./install.sh)"

module_dir() {
    local unix
    unix=$(find /lib /usr/lib /lib64 /usr/lib64 -name pam_unix.so -path '*security*' 2>/dev/null | head -n 1)
    [ -n "$unix" ] || die "cannot find pam_unix.so: where are the PAM modules?"
    dirname "$unix"
}

uninstall() {
    local purge=$1 force=$2 dir users
    dir=$(module_dir)
    users=$(grep -ls 'pam_emailotp' /etc/pam.d/* 2>/dev/null | grep -v "^$service\$" || true)
    if [ -n "$users" ] && [ "$force" != yes ]; then
        die "these PAM services still use pam_emailotp.so; removing it would lock them: $(echo $users). Edit them first, or pass --force."
    fi
    if [ -f "$profile" ] && command -v pam-auth-update >/dev/null; then
        pam-auth-update --package --remove emailotp || true
    fi
    rm -f "$dir/pam_emailotp.so" "$sbin/emailotp" "$helper" "$profile" \
          "$mandir/man8/pam_emailotp.8" "$mandir/man8/emailotp.8" "$mandir/man5/emailotp.conf.5"
    if [ -f "$service" ] && cmp -s "$service" "$here/pam.d-examples/emailotp"; then
        rm -f "$service"
    elif [ -f "$service" ]; then
        say "$service was changed locally; left in place"
    fi
    if [ "$purge" = yes ]; then
        rm -rf "$store" "$config"
        say "removed $config and $store"
    else
        say "kept $config and $store (--purge removes them)"
    fi
    say "uninstalled"
}

ensure_packages() {
    local wanted=(libpam0g-dev libssl-dev libcurl4-openssl-dev libcrypt-dev ca-certificates) missing=()
    for package in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
}

find_swift() {
    if command -v swift >/dev/null; then command -v swift
    elif [ -x /opt/swift/usr/bin/swift ]; then echo /opt/swift/usr/bin/swift
    else die "no Swift toolchain found (swift on PATH or /opt/swift)"
    fi
}

install_all() {
    local dir swift bin
    ensure_packages
    swift=$(find_swift)
    say "building (release, static Swift runtime)"
    (cd "$here" && "$swift" build -c release -Xswiftc -static-stdlib --disable-local-rpath)
    bin=$(cd "$here" && "$swift" build -c release -Xswiftc -static-stdlib --disable-local-rpath --show-bin-path)
    dir=$(module_dir)
    # Stripped (-s) as distributions ship modules: the symbol table alone is 3.6 MB.
    install -s -o root -g root -m 0644 "$bin/libpam_emailotp.so" "$dir/pam_emailotp.so"
    install -o root -g root -m 0755 "$bin/emailotp" "$sbin/emailotp"
    install -d -o root -g root -m 0755 "$(dirname "$helper")"
    # setuid root like unix_chkpwd; it serves only members of helper_group (empty: nobody).
    install -o root -g root -m 4755 "$bin/emailotp-helper" "$helper"
    install -d -o root -g root -m 0755 "$mandir/man8" "$mandir/man5"
    install -o root -g root -m 0644 "$here/man/pam_emailotp.8" "$here/man/emailotp.8" "$mandir/man8/"
    install -o root -g root -m 0644 "$here/man/emailotp.conf.5" "$mandir/man5/"
    if [ -e "$config" ]; then
        say "kept the existing $config"
    else
        install -o root -g root -m 0600 "$here/etc/emailotp.conf" "$config"
    fi
    if [ ! -e "$service" ] || cmp -s "$service" "$here/pam.d-examples/emailotp"; then
        install -o root -g root -m 0644 "$here/pam.d-examples/emailotp" "$service"
    else
        say "kept the locally changed $service"
    fi
    if [ -d /usr/share/pam-configs ]; then
        install -o root -g root -m 0644 "$here/pam-configs/emailotp" "$profile"
    fi
    install -d -o root -g root -m 0700 "$store"
    chmod 0700 "$store"
    say "installed $dir/pam_emailotp.so, $sbin/emailotp and $helper (setuid root)"
    say "next: sudo emailotp demo   (a PIN -> mail -> code login through PAM, no mail server needed)"
}

mode=install purge=no force=no
for arg in "$@"; do
    case "$arg" in
        --uninstall) mode=uninstall ;;
        --purge) purge=yes ;;
        --force) force=yes ;;
        -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
        *) die "unknown option $arg" ;;
    esac
done
if [ "$mode" = uninstall ]; then uninstall "$purge" "$force"; else install_all; fi
