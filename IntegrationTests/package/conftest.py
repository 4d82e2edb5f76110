"""Fixtures for the Debian package tests (docs/packaging.md): the package built from the tree,
and clean Debian 12 roots made by mmdebstrap. Run as root, with the network to the Debian mirror
(apt inside the roots) and the Swift toolchain in /opt/swift (or on PATH):

    cd IntegrationTests && /usr/bin/python3 -m pytest -q -p no:cacheprovider package

EMAILOTP_DEB=/path/to/libpam-emailotp_X_amd64.deb tests that package instead of building one;
EMAILOTP_CHROOT_CACHE=DIR keeps the mmdebstrap tarballs there (for a day) between runs.
Without the network the tests skip, unless EMAILOTP_PACKAGE_TESTS=required (CI: .ci/run).
"""

import glob
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from pkgsupport import REPO, require_mirror  # noqa: E402


@pytest.fixture(scope="session")
def root_ok():
    require_mirror()


@pytest.fixture(scope="session")
def workdir():
    d = tempfile.mkdtemp(prefix="emailotp-pkg-")
    os.chmod(d, 0o755)
    yield pathlib.Path(d)
    if not os.environ.get("EMAILOTP_KEEP_TMP"):
        subprocess.run(["rm", "-rf", "--one-file-system", d], check=False)


@pytest.fixture(scope="session")
def cache_dir(workdir):
    return os.environ.get("EMAILOTP_CHROOT_CACHE") or str(workdir / "cache")


@pytest.fixture(scope="session")
def deb(root_ok, workdir):
    """The package: EMAILOTP_DEB, or packaging/build-deb.sh on the tree (a copy of its tracked
    and new files, as a fresh clone has them)."""
    given = os.environ.get("EMAILOTP_DEB")
    if given:
        return given
    out = workdir / "deb"
    out.mkdir()
    p = subprocess.run([os.path.join(REPO, "packaging", "build-deb.sh"), "--out", str(out)],
                       capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, "build-deb.sh failed:\n%s\n%s" % (p.stdout[-5000:], p.stderr[-5000:])
    debs = glob.glob(str(out / "libpam-emailotp_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


@pytest.fixture(scope="session")
def older_deb(deb, workdir):
    """The same build repacked with a lower version (0.0.1~test) and laid out as 1.0.0 was, with
    the module and the systemd units under /lib: the "previous version" an upgrade starts from."""
    unpacked = workdir / "older"
    subprocess.run(["dpkg-deb", "-R", deb, str(unpacked)], check=True)
    for new, old in (("usr/lib/x86_64-linux-gnu/security", "lib/x86_64-linux-gnu/security"),
                     ("usr/lib/systemd", "lib/systemd")):
        if (unpacked / new).exists():
            (unpacked / old).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(unpacked / new), str(unpacked / old))
    md5sums = unpacked / "DEBIAN" / "md5sums"
    if md5sums.exists():
        md5sums.write_text(md5sums.read_text().replace("  usr/lib/x86_64-linux-gnu/security/", "  lib/x86_64-linux-gnu/security/")
                           .replace("  usr/lib/systemd/", "  lib/systemd/"))
    control = unpacked / "DEBIAN" / "control"
    lines = ["Version: 0.0.1~test" if l.startswith("Version:") else l for l in control.read_text().splitlines()]
    control.write_text("\n".join(lines) + "\n")
    out = workdir / "libpam-emailotp_0.0.1~test_amd64.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(unpacked), str(out)], check=True,
                   capture_output=True)
    return str(out)
