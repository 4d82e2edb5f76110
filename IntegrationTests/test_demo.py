"""`emailotp demo`: the whole job end to end with no mail server, touching
neither the real store nor /etc/pam.d."""

import hashlib
import os
import subprocess

import pytest

from lib.env import EMAILOTP

WATCHED = ["/var/lib/emailotp", "/etc/pam.d", "/etc/security"]


def listing(root):
    """{path: (mode, uid, size, mtime_ns, sha256)} under root (or {} if absent)."""
    out = {}
    if not os.path.lexists(root):
        return out
    for r, dirs, files in os.walk(root):
        for n in [""] + dirs + files:
            p = os.path.join(r, n) if n else r
            st = os.lstat(p)
            h = None
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    h = hashlib.sha256(f.read()).hexdigest()
            out[p] = (st.st_mode, st.st_uid, st.st_size, st.st_mtime_ns, h)
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    if os.geteuid() != 0 or not os.access(EMAILOTP, os.X_OK):
        pytest.fail("emailotp is not installed or not root")
    tmpdir = tmp_path_factory.mktemp("demo-tmp")
    before = {r: listing(r) for r in WATCHED}
    tmp_before = set(os.listdir("/tmp"))
    env = dict(os.environ, TMPDIR=str(tmpdir))
    p = subprocess.run([EMAILOTP, "demo"], capture_output=True, text=True, timeout=120,
                       env=env, stdin=subprocess.DEVNULL)
    after = {r: listing(r) for r in WATCHED}
    leftovers = os.listdir(tmpdir) + sorted(
        n for n in set(os.listdir("/tmp")) - tmp_before if n.startswith("emailotp-demo"))
    yield p, before, after, leftovers
    import shutil
    shutil.rmtree(tmpdir, ignore_errors=True)


def test_demo_exits_0(demo):
    p = demo[0]
    assert p.returncode == 0, "stdout:\n%s\nstderr:\n%s" % (p.stdout, p.stderr)


def test_demo_names_the_release_first(demo):
    import re
    first = demo[0].stdout.splitlines()[0]
    assert re.match(r"emailotp demo \(pam_emailotp \d+\.\d+\.\d+\): ", first), first


def test_demo_prints_pin_mail_code_conversation(demo):
    out = demo[0].stdout
    i_pin = out.find("PIN: ")
    i_sent = out.find("A code was sent to")
    i_code = out.find("Email code: ")
    assert -1 not in (i_pin, i_sent, i_code), out
    assert i_pin < i_sent < i_code, out
    low = out.lower()
    assert "success" in low or "granted" in low, out


def test_demo_leaves_store_and_pam_d_unchanged(demo):
    _, before, after, _ = demo
    for root in WATCHED:
        assert after[root] == before[root], "emailotp demo changed %s" % root


def test_demo_removes_its_temporary_files(demo):
    assert demo[3] == [], "left in TMPDIR or /tmp: %r" % demo[3]
