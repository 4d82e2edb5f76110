"""Helpers of the package tests (imported by name: `from conftest import` would find another
suite's conftest.py when the whole IntegrationTests tree runs)."""

import os
import pathlib
import shutil
import subprocess

import pytest

import chroot

HERE = pathlib.Path(__file__).resolve().parent
REPO = str(HERE.parents[1])


def require_mirror(suite=None):
    """Root, mmdebstrap and the Debian mirror for the suite (default chroot.SUITE): without
    them the test skips, or fails under EMAILOTP_PACKAGE_TESTS=required (CI)."""
    if os.geteuid() != 0:
        pytest.fail("the package tests must run as root")
    why = chroot.network_reason(suite)
    if why:
        if os.environ.get("EMAILOTP_PACKAGE_TESTS") == "required":
            pytest.fail(why)
        pytest.skip(why)


def swift_dir():
    """The toolchain directory bound into the roots (the one install.sh would use)."""
    swift = shutil.which("swift")
    if swift:
        return str(pathlib.Path(os.path.realpath(swift)).parents[2])
    return "/opt/swift"


def deb_version(path):
    return subprocess.run(["dpkg-deb", "-f", path, "Version"], capture_output=True, text=True,
                          check=True).stdout.strip()


def swiftpm_mirror():
    """(git insteadOf prefix, local directory) when git maps https://github.com/ to a local
    mirror (how SwiftPM resolves swift-argument-parser offline on this machine), else None.
    Every git configuration scope: the rule may be the system's or the user's."""
    p = subprocess.run(["git", "config", "--get-regexp", r"^url\..*\.insteadof$"],
                       capture_output=True, text=True)
    for line in p.stdout.splitlines():
        key, _, value = line.partition(" ")
        if value.rstrip("/") == "https://github.com":
            base = key[len("url."):-len(".insteadof")]
            for name in ("swift-argument-parser", "swift-argument-parser.git"):
                path = os.path.join(base, "apple", name)
                if os.path.isdir(path):
                    return base, path
    return None


def use_swiftpm_mirror(root):
    """The host's mirror rule in the root's /etc/gitconfig (the mirror itself is bound in
    read-only by the caller: swiftpm_mirror()[1])."""
    mirror = swiftpm_mirror()
    if mirror:
        root.run("printf '[url \"%s\"]\\n\\tinsteadOf = https://github.com/\\n' > /etc/gitconfig"
                 % mirror[0])
