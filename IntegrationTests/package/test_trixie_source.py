"""Debian 13 from source, as an administrator there would build it: a clean trixie root
(`mmdebstrap --variant=apt trixie`, nothing added), the tree copied in as a fresh clone has it,
no /opt/swift and no Swift on PATH. Only SwiftPM's mirror of swift-argument-parser is bound in
(read-only, with the host's git `url.*.insteadOf` rule), so the build resolves offline. In that
one root, in order:

  ./install.sh installs Debian's swiftlang (Swift 6.0.3), libstdc++-14-dev and the build
  packages itself, builds, installs, and `emailotp demo` logs in through the module;
  the whole unit suite (`swift test --disable-swift-testing`) passes with Swift 6.0.3;
  `apt-get build-dep ./` resolves debian/control (swiftlang, no build profile), then
  packaging/build-deb.sh builds the .deb, and trixie's lintian passes it with
  --fail-on error,warning; every ELF in it has RELRO and BIND_NOW.

Then that .deb's package cycle (test_package_cycle.py with EMAILOTP_PACKAGE_SUITE=trixie:
install, demo, the sshd/sudo/sudo-rs/su suites, pam-auth-update, remove, purge, upgrade) runs in
a clean Debian 13 root of its own. Debian 13 roots whatever EMAILOTP_PACKAGE_SUITE says; without
the Debian mirror the tests skip, or fail under EMAILOTP_PACKAGE_TESTS=required.
"""

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

import chroot
from pkgsupport import REPO, require_mirror, swiftpm_mirror, use_swiftpm_mirror
from test_build_lintian import test_every_elf_has_relro_and_bind_now as check_relro_and_bind_now
from test_build_lintian import test_layout_modes_and_version as check_layout_modes_and_version

SUITE = "trixie"


def binds():
    mirror = swiftpm_mirror()
    return [(mirror[1], mirror[1])] if mirror else []


def timed(root, script, timeout):
    """root.run(script) and its wall time in seconds (printed: pytest -rP shows it)."""
    start = time.monotonic()
    p = root.run(script, binds=binds(), check=False, timeout=timeout)
    took = time.monotonic() - start
    print("%.0f s: %s" % (took, script))
    return p, took


@pytest.fixture(scope="module")
def src(cache_dir, workdir):
    require_mirror(SUITE)
    r = chroot.Root(workdir / "trixie-source-root", chroot.base_tarball(cache_dir, name="bare", suite=SUITE))
    r.copy_tree(REPO, "/src")
    use_swiftpm_mirror(r)
    yield r
    if not os.environ.get("EMAILOTP_KEEP_TMP"):
        r.remove()


@pytest.fixture(scope="module")
def trixie_deb(src, workdir):
    """The .deb built in the root by packaging/build-deb.sh, after `apt-get build-dep ./`."""
    src.run("cd /src && apt-get build-dep -y -q ./ >/dev/null 2>&1 && apt-get install -y -q lintian >/dev/null 2>&1",
            timeout=1800)
    p, _ = timed(src, "mkdir -p /root/deb && cd /src && packaging/build-deb.sh --out /root/deb 2>&1", 2400)
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-3000:]
    # No build profile: Build-Depends names swiftlang, and apt-get build-dep installed it.
    assert "noswiftlang" not in p.stdout, p.stdout[-3000:]
    debs = [n for n in os.listdir(src.file("/root/deb")) if n.endswith(".deb")]
    assert len(debs) == 1, debs
    out = workdir / "deb13"
    out.mkdir()
    shutil.copy(src.file("/root/deb/" + debs[0]), str(out))
    return str(out / debs[0])


def test_install_sh_installs_swiftlang_builds_and_demo_logs_in(src):
    assert not os.path.exists(src.file("/opt/swift"))
    assert src.run("command -v swift", check=False).returncode != 0, "no Swift before install.sh"
    p, _ = timed(src, "cd /src && ./install.sh 2>&1 && emailotp demo", 2400)
    assert p.returncode == 0, p.stdout[-6000:] + p.stderr[-3000:]
    installing = [l for l in p.stdout.splitlines() if "installing" in l]
    assert any("swiftlang" in l and "libstdc++-14-dev" in l for l in installing), p.stdout[-3000:]
    assert "PAM result: Success" in p.stdout, p.stdout[-3000:]
    version = src.run("command -v swift && swift --version 2>&1").stdout
    assert version.startswith("/usr/bin/swift\n") and "Swift version 6.0.3" in version, version


def test_unit_suite_passes_with_swift_6_0_3(src):
    p, _ = timed(src, "cd /src && swift test --disable-swift-testing 2>&1", 2400)
    failures = [l for l in p.stdout.splitlines() if re.search(r"error: |' failed \(", l)]
    assert p.returncode == 0, "\n".join(failures) + "\n...\n" + p.stdout[-3000:] + p.stderr[-3000:]
    executed = re.findall(r"Executed (\d+) tests?, with (\d+) failures?", p.stdout)
    assert executed and int(executed[-1][0]) > 0 and executed[-1][1] == "0", p.stdout[-3000:]


def test_deb_built_on_13_is_lintian_clean(src, trixie_deb, tmp_path):
    p = src.run("lintian --version && lintian --fail-on error,warning --allow-root /root/deb/*.deb 2>&1",
                check=False, timeout=900)
    print(p.stdout)
    assert p.returncode == 0, p.stdout + p.stderr
    assert not re.search(r"^[EW]: ", p.stdout, re.M), p.stdout
    check_layout_modes_and_version(trixie_deb)
    check_relro_and_bind_now(trixie_deb, tmp_path)


def test_package_cycle_of_the_deb_built_on_13(src, trixie_deb, cache_dir):
    """test_package_cycle.py in a clean Debian 13 root with this .deb (the source root goes
    first: it is no longer needed, and holds the toolchain and two builds)."""
    src.remove()
    env = dict(os.environ, EMAILOTP_PACKAGE_SUITE=SUITE, EMAILOTP_DEB=trixie_deb,
               EMAILOTP_CHROOT_CACHE=cache_dir)
    start = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                        "package/test_package_cycle.py"],
                       cwd=os.path.join(REPO, "IntegrationTests"), env=env, capture_output=True, text=True,
                       timeout=2400)
    print("%.0f s: the package cycle" % (time.monotonic() - start))
    assert p.returncode == 0, p.stdout[-8000:] + p.stderr[-3000:]
    assert re.search(r"\d+ passed", p.stdout) and "skipped" not in p.stdout, p.stdout[-3000:]
