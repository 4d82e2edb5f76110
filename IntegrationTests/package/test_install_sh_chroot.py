"""The README's first command in a clean Debian 12 root (mmdebstrap --variant=apt bookworm) where
the Swift toolchain was just unpacked: only the toolchain directory and SwiftPM's mirror of
swift-argument-parser are bound in from the host. install.sh installs the toolchain's own
prerequisites and the build packages with apt, builds, installs, and `emailotp demo` logs in.
With EMAILOTP_PACKAGE_SUITE=trixie, a clean Debian 13 root with no toolchain at all: install.sh
installs Debian's swiftlang and libstdc++-14-dev and builds with Swift 6.0.3;
it installs the files the package ships (account, timers, fail2ban filter) in its own places,
and `--uninstall` takes the module out as the package's remove does."""

import os

import pytest

import chroot
from pkgsupport import REPO, swift_dir, swiftpm_mirror, use_swiftpm_mirror

SECURITY = "/usr/lib/x86_64-linux-gnu/security"


@pytest.fixture(scope="module")
def bare(root_ok, cache_dir, workdir):
    r = chroot.Root(workdir / "install-sh-root", chroot.base_tarball(cache_dir, name="bare"))
    r.copy_tree(REPO, "/src")
    yield r
    if not os.environ.get("EMAILOTP_KEEP_TMP"):
        r.remove()


def binds():
    out = [] if chroot.SUITE != "bookworm" else [(swift_dir(), "/opt/swift")]
    mirror = swiftpm_mirror()
    return out + ([(mirror[1], mirror[1])] if mirror else [])


def test_install_sh_and_demo_on_a_bare_debian_12(bare):
    use_swiftpm_mirror(bare)
    p = bare.run("cd /src && ./install.sh 2>&1 && emailotp demo", binds=binds(), timeout=1800, check=False)
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-3000:]
    if chroot.SUITE == "bookworm":
        assert "installing" in p.stdout and "libncurses6" in p.stdout, "the toolchain's prerequisites came from apt"
    else:
        assert "installing" in p.stdout and "swiftlang" in p.stdout and "libstdc++-14-dev" in p.stdout, p.stdout[-3000:]
    assert "PAM result: Success" in p.stdout, p.stdout[-3000:]


def test_install_sh_installs_what_the_package_ships(bare):
    for path in ("/usr/local/sbin/emailotp", "/usr/local/libexec/emailotp-helper",
                 "/usr/local/lib/systemd/system/emailotp-purge.timer",
                 "/usr/local/lib/systemd/system/emailotp-metrics.timer",
                 "/usr/local/lib/systemd/system/emailotp-purge.service",
                 "/usr/local/lib/systemd/system/emailotp-metrics.service",
                 "/etc/fail2ban/filter.d/pam-emailotp.conf",
                 "/usr/local/share/doc/pam_emailotp/examples/fail2ban/jail.local",
                 "/usr/local/share/doc/pam_emailotp/examples/sshd",
                 "/usr/share/pam-configs/emailotp", "/etc/pam.d/emailotp", "/etc/security/emailotp.conf"):
        assert os.path.exists(bare.file(path)), path
    assert os.stat(bare.file("/usr/local/libexec/emailotp-helper")).st_mode & 0o4000
    account = bare.run("getent passwd emailotp-lookup").stdout.strip().split(":")
    assert account[5:] == ["/nonexistent", "/usr/sbin/nologin"], account
    strings = bare.run("strings %s/pam_emailotp.so" % SECURITY).stdout.splitlines()
    assert "/usr/local/libexec/emailotp-helper" in strings


def test_uninstall_mirrors_the_package_remove(bare):
    bare.run("pam-auth-update --enable emailotp")
    assert "pam_emailotp" in open(bare.file("/etc/pam.d/common-auth")).read()
    p = bare.run("cd /src && ./install.sh --uninstall 2>&1", binds=binds())
    left = bare.run("grep -lE '^[^#]*pam_emailotp' /etc/pam.d/* || true").stdout.split()
    assert left == [], left
    for path in (SECURITY + "/pam_emailotp.so", "/usr/local/sbin/emailotp", "/usr/local/libexec/emailotp-helper",
                 "/usr/local/lib/systemd/system/emailotp-purge.timer", "/usr/share/pam-configs/emailotp",
                 "/usr/local/share/doc/pam_emailotp"):
        assert not os.path.exists(bare.file(path)), path
    # Kept, as the package's remove keeps its conffiles and the store.
    for path in ("/etc/security/emailotp.conf", "/etc/fail2ban/filter.d/pam-emailotp.conf", "/var/lib/emailotp"):
        assert os.path.exists(bare.file(path)), (path, p.stdout)
