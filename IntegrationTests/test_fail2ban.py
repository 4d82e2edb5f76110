"""The shipped fail2ban filter (packaging/fail2ban/pam-emailotp.conf, installed as
/etc/fail2ban/filter.d/pam-emailotp.conf) against the module's own log lines, captured from real
logins through libpam and the installed module: a wrong PIN, a wrong code and a locked token each
match with the remote host they came from, from sshd as from OpenSSH 10's sshd-session; a granted login, a failure without a remote host and a
forged remote host match nothing."""

import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from lib.env import ALICE, ALICE_EMAIL, DEFAULT_PIN
from lib.flows import CodeAnswerer, WRONG
from lib.pamdriver import PAM_SUCCESS

ROOT = Path(__file__).resolve().parents[1]
FILTER = ROOT / "packaging" / "fail2ban" / "pam-emailotp.conf"
INSTALLED_FILTER = Path("/etc/fail2ban/filter.d/pam-emailotp.conf")
COMMON = Path("/etc/fail2ban/filter.d/common.conf")

WRONG_PIN_HOST = "198.51.100.1"
WRONG_CODE_HOST = "198.51.100.2"
LOCKED_HOST = "2001:db8::3"
GRANTED_HOST = "198.51.100.4"


def as_syslog_file(datagrams):
    """The lines as rsyslog writes them to /var/log/auth.log: glibc's datagram
    'Dec  1 21:40:01 ident[pid]: text' with the host name after the time."""
    host = socket.gethostname().split(".")[0] or "localhost"
    out = []
    for text in datagrams:
        m = re.match(r"(\w{3} [ \d]\d \d\d:\d\d:\d\d) (.*)", text, re.S)
        assert m, text
        out.append("%s %s %s" % (m.group(1), host, m.group(2)))
    return out


def fail2ban_matches(tmp_path, lines):
    """[(host, line)] that fail2ban-regex finds with the shipped filter."""
    if shutil.which("fail2ban-regex") is None or not COMMON.exists():
        pytest.fail("fail2ban is not installed (IntegrationTests/packages.txt)")
    filters = tmp_path / "filter.d"
    filters.mkdir()
    shutil.copy(COMMON, filters / "common.conf")
    shutil.copy(FILTER, filters / "pam-emailotp.conf")
    log = tmp_path / "auth.log"
    log.write_text("\n".join(lines) + "\n")
    p = subprocess.run(["fail2ban-regex", "-o", "<ip>|<msg>", str(log), str(filters / "pam-emailotp.conf")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    found = []
    for row in p.stdout.splitlines():
        host, sep, msg = row.partition("|")
        if sep and "pam_emailotp" in msg:
            found.append((host, msg))
    return found


def test_filter_matches_failures_by_host_and_nothing_else(site, smtp, syslog, tmp_path):
    site.write_config(max_fail=2)
    site.enroll(ALICE, ALICE_EMAIL, pin=DEFAULT_PIN)
    site.enroll("bob", "bob@example.com", pin=DEFAULT_PIN)

    # /dev/log queues only a few datagrams: the lines are read after every login, else the
    # module's syslog() would block.
    def login(user, answerer, rhost, service="sshd"):
        result = site.authenticate(user, answerer, service=service, rhost=rhost)
        syslog.lines()
        return result

    # alice: a wrong PIN, then a wrong code (one failure each; max_fail=2 would lock her on the
    # second, so a right login in between resets the count).
    login(ALICE, CodeAnswerer(smtp, pin="wrong-PIN"), WRONG_PIN_HOST)
    granted = login(ALICE, CodeAnswerer(smtp), GRANTED_HOST)
    assert granted.rc == PAM_SUCCESS, granted.describe()
    site.write_config(otp_tries=2)          # "wrong code, 1 try left"
    login(ALICE, CodeAnswerer(smtp, codes=(WRONG,)), WRONG_CODE_HOST)
    login(ALICE, CodeAnswerer(smtp), GRANTED_HOST)
    site.write_config(otp_tries=3)          # "wrong code, 2 tries left"
    login(ALICE, CodeAnswerer(smtp, codes=(WRONG,)), WRONG_CODE_HOST)
    # bob: two wrong PINs lock the token; the right PIN is then refused as locked.
    login("bob", CodeAnswerer(smtp, pin="wrong-PIN"), LOCKED_HOST)
    login("bob", CodeAnswerer(smtp, pin="wrong-PIN"), LOCKED_HOST)
    login("bob", CodeAnswerer(smtp), LOCKED_HOST)
    # Lines that must not ban: a local failure (su, sudo: no remote host) and a forged host.
    login(ALICE, CodeAnswerer(smtp), GRANTED_HOST)
    login(ALICE, CodeAnswerer(smtp, pin="wrong-PIN"), None, service="sudo")
    login(ALICE, CodeAnswerer(smtp, pin="wrong-PIN"), '203.0.113.9" rhost="192.0.2.66')

    texts = [t for _, _, t in syslog.lines() if "pam_emailotp(" in t]
    assert any(t.endswith(": wrong PIN") for t in texts), texts
    assert any(": wrong code" in t for t in texts), texts
    assert any(": refused: token locked" in t for t in texts), texts
    found = fail2ban_matches(tmp_path, as_syslog_file(texts))

    def messages(host):
        return [re.sub(r'^.*? rhost="(?:[^"\\]|\\.)*": ', "", msg) for h, msg in found if h == host]

    assert messages(WRONG_PIN_HOST) == ["wrong PIN"], found
    assert [m.rsplit(", ", 1)[1] for m in messages(WRONG_CODE_HOST)] == ["1 try left", "2 tries left"], found
    assert all(m.startswith("wrong code") for m in messages(WRONG_CODE_HOST)), found
    locked = messages(LOCKED_HOST)
    assert locked[:2] == ["wrong PIN", "wrong PIN"] and len(locked) == 3, found
    assert locked[2].startswith("refused: token locked"), found
    assert {h for h, _ in found} == {WRONG_PIN_HOST, WRONG_CODE_HOST, LOCKED_HOST}, found
    assert not [m for _, m in found if "granted" in m or "code mailed" in m], found

    # OpenSSH 10 (Debian 13) runs the login in sshd-session, which names itself in the line:
    # the same lines from that process ban the same hosts.
    session = [re.sub(r"^(\w{3} [ \d]\d \d\d:\d\d:\d\d) [^\[: ]+(?:\[\d+\])?: ", r"\1 sshd-session[812]: ", t)
               for t in texts]
    assert all(" sshd-session[812]: pam_emailotp(" in t for t in session), session
    (tmp_path / "session").mkdir()
    def from_module(matches):
        return sorted((h, m[m.index("pam_emailotp("):]) for h, m in matches)

    assert from_module(fail2ban_matches(tmp_path / "session", as_syslog_file(session))) == from_module(found)


def test_installed_filter_is_the_shipped_one():
    if not INSTALLED_FILTER.exists():
        pytest.skip("%s not installed" % INSTALLED_FILTER)
    assert INSTALLED_FILTER.read_bytes() == FILTER.read_bytes()
