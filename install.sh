#!/usr/bin/env bash
# Builds and installs pam_emailotp on Debian/Ubuntu (see README.md).
#   sudo ./install.sh               install (or upgrade)
#   sudo ./install.sh --uninstall   remove what it installed; keep configuration and store
#   sudo ./install.sh --uninstall --purge   also remove /etc/security/emailotp.conf, the fail2ban
#                                           filter and /var/lib/emailotp
# It never edits /etc/pam.d/sshd, /etc/pam.d/sudo or sshd_config.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prefix=/usr/local
sbin=$prefix/sbin
# The setuid-root helper that runs the login for setuid applications and those that do not run as root
# (pam_emailotp(8), PROCESS MODEL); the module
# has this path compiled in (ModuleOptions.defaultHelperPath).
helper=$prefix/libexec/emailotp-helper
mandir=$prefix/share/man
unitdir=$prefix/lib/systemd/system
docdir=$prefix/share/doc/pam_emailotp
units=(emailotp-purge.service emailotp-purge.timer emailotp-metrics.service emailotp-metrics.timer)
filter=/etc/fail2ban/filter.d/pam-emailotp.conf
# The account address_command runs as (address_command_user), as the Debian package creates it.
lookup_user=emailotp-lookup
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

systemd_running() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

# As the Debian package's remove (debian/libpam-emailotp.prerm): the module leaves every stack
# pam-auth-update manages, and a stack edited by hand that names it stops the removal.
uninstall() {
    local purge=$1 force=$2 dir users left unit
    dir=$(module_dir)
    users=$(grep -lsE '^[^#]*pam_emailotp' /etc/pam.d/* 2>/dev/null | grep -vx -e "$service" -e '/etc/pam.d/common-.*' || true)
    if [ -n "$users" ] && [ "$force" != yes ]; then
        die "these PAM services still use pam_emailotp.so; removing it would lock them: $(echo $users). Edit them first, or pass --force."
    fi
    if [ -f "$profile" ] && command -v pam-auth-update >/dev/null; then
        pam-auth-update --package --remove emailotp || true
    fi
    left=$(grep -lsE '^[^#]*pam_emailotp' /etc/pam.d/common-* 2>/dev/null || true)
    [ -z "$left" ] || say "warning: pam-auth-update left pam_emailotp.so in $(echo $left) (edited by hand?)"
    if systemd_running; then
        systemctl disable --now emailotp-purge.timer emailotp-metrics.timer >/dev/null 2>&1 || true
    fi
    for unit in "${units[@]}"; do rm -f "$unitdir/$unit"; done
    if systemd_running; then systemctl daemon-reload || true; fi
    rm -f "$dir/pam_emailotp.so" "$sbin/emailotp" "$helper" "$profile" \
          "$mandir/man8/pam_emailotp.8" "$mandir/man8/emailotp.8" "$mandir/man5/emailotp.conf.5"
    rm -rf "$docdir"
    if [ -f "$service" ] && cmp -s "$service" "$here/pam.d-examples/emailotp"; then
        rm -f "$service"
    elif [ -f "$service" ]; then
        say "$service was changed locally; left in place"
    fi
    if [ "$purge" = yes ]; then
        rm -rf "$store" "$config" "$filter"
        say "removed $config, $filter and $store"
    else
        say "kept $config, $filter and $store (--purge removes them)"
    fi
    say "kept the system account $lookup_user"
    say "uninstalled"
}

# The Swift toolchain's own prerequisites, per release. Debian 12: swift.org's list, as a
# toolchain just unpacked into /opt/swift on a bare system fails without them ("libncurses.so.6").
# Debian 13: its own swiftlang package. SwiftPM needs git to fetch swift-argument-parser.
toolchain_packages() {
    local id= version=
    if [ -r /etc/os-release ]; then
        id=$(. /etc/os-release && echo "${ID:-}")
        version=$(. /etc/os-release && echo "${VERSION_ID:-}")
    fi
    echo git
    if [ "$id" = debian ] && [ "$version" = 12 ]; then
        # swift.org names binutils-gold, which Debian 12 ships inside binutils (a virtual
        # package there): dpkg-query never finds it installed, and every run would call apt.
        echo binutils gcc libc6-dev libstdc++-12-dev libncurses6 libedit2 libxml2 libsqlite3-0 \
             libpython3.11 libz3-4 pkg-config tzdata zlib1g-dev uuid-dev
    elif [ "$id" = debian ] && [ "$version" = 13 ]; then
        # Debian's own toolchain, swiftlang (Swift 6.0.3, /usr/bin/swift), unless one is on PATH
        # or in /opt/swift already. The module links GCC's static libstdc++ (link/static-libstdc++),
        # which is in libstdc++-14-dev, not pulled in by swiftlang.
        echo binutils gcc libc6-dev libstdc++-14-dev pkg-config
        if ! command -v swift >/dev/null && [ ! -x /opt/swift/usr/bin/swift ]; then echo swiftlang; fi
    fi
}

ensure_packages() {
    # passwd for useradd (the lookup account): Debian 13's minimal systems may lack it.
    local wanted=(libpam0g-dev libssl-dev libcurl4-openssl-dev libcrypt-dev ca-certificates passwd $(toolchain_packages)) missing=()
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
    local dir swift bin unit
    ensure_packages
    swift=$(find_swift)
    "$swift" --version >/dev/null 2>&1 || die "$swift does not run: $("$swift" --version 2>&1 | head -n 1) (install the toolchain's prerequisites, swift.org)"
    # The one layout option (Package.swift): the helper path the module has compiled in.
    export EMAILOTP_PREFIX=$prefix
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
    if ! getent passwd "$lookup_user" >/dev/null; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin "$lookup_user"
        say "created the system account $lookup_user (address_command_user)"
    fi
    # systemd units, shipped disabled (docs/packaging.md): systemctl enable --now emailotp-purge.timer
    install -d -o root -g root -m 0755 "$unitdir"
    for unit in "${units[@]}"; do
        install -o root -g root -m 0644 "$here/packaging/systemd/$unit" "$unitdir/$unit"
    done
    if systemd_running; then systemctl daemon-reload || true; fi
    # The fail2ban filter (a configuration file: a local edit is kept) and a jail example.
    install -d -o root -g root -m 0755 "$(dirname "$filter")"
    if [ ! -e "$filter" ]; then
        install -o root -g root -m 0644 "$here/packaging/fail2ban/pam-emailotp.conf" "$filter"
    elif ! cmp -s "$filter" "$here/packaging/fail2ban/pam-emailotp.conf"; then
        say "kept the existing $filter (differs from packaging/fail2ban/pam-emailotp.conf)"
    fi
    install -d -o root -g root -m 0755 "$docdir/examples/fail2ban"
    install -o root -g root -m 0644 "$here/packaging/fail2ban/jail.local" "$docdir/examples/fail2ban/"
    install -o root -g root -m 0644 "$here"/pam.d-examples/* "$docdir/examples/"
    say "installed $dir/pam_emailotp.so, $sbin/emailotp and $helper (setuid root)"
    say "next: sudo emailotp demo   (a PIN -> mail -> code login through PAM, no mail server needed)"
}

mode=install purge=no force=no
for arg in "$@"; do
    case "$arg" in
        --uninstall) mode=uninstall ;;
        --purge) purge=yes ;;
        --force) force=yes ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) die "unknown option $arg" ;;
    esac
done
if [ "$mode" = uninstall ]; then uninstall "$purge" "$force"; else install_all; fi
