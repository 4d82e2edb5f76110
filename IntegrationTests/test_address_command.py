"""address_command: a token enrolled with --address-from-command gets its address from a
root-owned program at each mail, through real libpam and a loopback SMTP server. A command
that hangs, lies, is writable by others or fails is refused: no mail, no open challenge."""

import os
import pathlib
import shutil
import tempfile

import pytest

from lib.env import DEFAULT_PIN
from lib.flows import CodeAnswerer
from lib.pamdriver import PAM_SUCCESS, PAM_AUTHINFO_UNAVAIL, ERROR_MSG

BOB = "bob"
MAIL_FAILED = "The code could not be sent by email. Try again later or contact your administrator."


@pytest.fixture
def bin_dir():
    """Programs must sit in root-owned directories no one else can write (like sshd's
    AuthorizedKeysCommand), so not under /tmp: a private directory under /run."""
    d = tempfile.mkdtemp(prefix="emailotp-addrcmd-", dir="/run")
    os.chmod(d, 0o755)
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


def program(bin_dir, name, body, mode=0o755):
    p = bin_dir / name
    p.write_text("#!/bin/sh\n" + body)
    os.chown(p, 0, 0)
    os.chmod(p, mode)
    return p


@pytest.fixture
def bob(site):
    site.cli("enroll", BOB, "--address-from-command", "--pin-stdin", input=DEFAULT_PIN + "\n", check=True)
    return BOB


def login(site):
    return site.authenticate(BOB, CodeAnswerer(site.smtp))


def test_enrolled_record_stores_no_address(site, bob):
    assert site.read_record(BOB)["email"] == "-"
    assert "(address_command)" in site.cli("list", check=True).stdout


def test_login_mails_the_address_the_command_printed(site, smtp, bob, bin_dir, monkeypatch):
    # The address names the user it was run for and the account it ran as; a variable of the
    # caller's environment must not reach the program.
    cmd = program(bin_dir, "mail-of", '[ -z "$EMAILOTP_LEAK" ] || exit 9\n'
                                      'echo "$1.$(id -un)@directory.example"\n')
    site.write_config(address_command=cmd)
    monkeypatch.setenv("EMAILOTP_LEAK", "from-the-login-environment")
    res = login(site)
    assert res.rc == PAM_SUCCESS, res.describe()
    assert smtp.count() == 1
    # The default account is the dedicated emailotp-lookup, not the shared nobody.
    assert smtp.last()["To"] == "bob.emailotp-lookup@directory.example"
    assert smtp.envelopes()[-1]["rcpt_tos"] == ["bob.emailotp-lookup@directory.example"]
    assert site.read_record(BOB)["email"] == "-"      # nothing was copied into the store


def test_address_command_user_is_honoured(site, smtp, bob, bin_dir):
    cmd = program(bin_dir, "mail-of", 'echo "$(id -un)@directory.example"\n')
    site.write_config(address_command=cmd, address_command_user="daemon")
    assert login(site).rc == PAM_SUCCESS
    assert smtp.last()["To"] == "daemon@directory.example"


def hang(bin_dir, marker):
    # A child that keeps running must be killed with the command (its process group).
    return program(bin_dir, "hang", "sleep %s &\nsleep %s\n" % (marker, marker))


REFUSED = {
    "hangs": (lambda d, m: hang(d, m), "did not finish within 1 seconds"),
    "two lines": (lambda d, m: program(d, "x", "echo a@example.org\necho b@example.org\n"), "more than one line"),
    "crlf": (lambda d, m: program(d, "x", "printf 'a@example.org\\r\\n'\n"), "carriage return"),
    "garbage": (lambda d, m: program(d, "x", "echo 'Bob <bob@example.org>'\n"), "not a plain mail address"),
    "nothing": (lambda d, m: program(d, "x", "exit 0\n"), "printed no address"),
    "too much": (lambda d, m: program(d, "x", "head -c 5000 /dev/zero | tr '\\\\0' a\n"), "more than 1024 bytes"),
    "exits non-zero": (lambda d, m: program(d, "x", "echo bob@example.org\nexit 3\n"), "exited with status 3"),
    "group-writable": (lambda d, m: program(d, "x", "echo bob@example.org\n", mode=0o775), "writable by group or others"),
    "not root's": (lambda d, m: (lambda p: (os.chown(p, 1, 1), p)[1])(program(d, "x", "echo bob@example.org\n")),
                   "not owned by root"),
    "dir writable": (lambda d, m: (os.chmod(d, 0o777), program(d, "x", "echo bob@example.org\n"))[1],
                     "writable by group or others"),
    "missing": (lambda d, m: d / "nothere", "realpath"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_command_is_refused_without_mail(site, smtp, bob, bin_dir, case):
    marker = "59.%d" % (os.getpid() % 1000)
    make, reason = REFUSED[case]
    cmd = make(bin_dir, marker)
    site.write_config(address_command=cmd, address_command_timeout=1)
    res = login(site)
    assert res.rc == PAM_AUTHINFO_UNAVAIL, res.describe()
    assert (ERROR_MSG, MAIL_FAILED) in [(m.style, m.text) for m in res.transcript], res.describe()
    assert smtp.count() == 0
    record = site.read_record(BOB)
    assert record["challenges"] == [] and record["mails"] == "", record
    # The same refusal from emailotp check, whose log lines go to stderr: one line says why.
    p = site.cli("check", BOB, input=DEFAULT_PIN + "\n")
    assert p.returncode == 2, p.stdout + p.stderr
    assert "mail failed: address_command: " in p.stderr and reason in p.stderr, p.stderr
    assert smtp.count() == 0
    if case == "hangs":
        left = [pid for pid in os.listdir("/proc") if pid.isdigit() and _cmdline(pid).endswith("sleep\0%s\0" % marker)]
        assert left == [], "the command's processes outlived it"


def _cmdline(pid):
    try:
        with open("/proc/%s/cmdline" % pid) as f:
            return f.read()
    except OSError:
        return ""


def test_unset_command_refuses_token_without_address(site, smtp, bob):
    res = login(site)
    assert res.rc == PAM_AUTHINFO_UNAVAIL and smtp.count() == 0
    p = site.cli("check", BOB, input=DEFAULT_PIN + "\n")
    assert "address_command is not set" in p.stderr


def test_enroll_options(site):
    p = site.cli("enroll", "carol", "--pin-stdin", input="x\n")
    assert p.returncode != 0 and "--email ADDR or --address-from-command" in p.stderr
    p = site.cli("enroll", "carol", "--email", "c@example.org", "--address-from-command", "--pin-stdin", input="x\n")
    assert p.returncode != 0
    p = site.cli("enroll", "carol", "--address-from-command", "--verify", "--pin-stdin", input="x\n")
    assert p.returncode != 0 and "--verify needs --email" in p.stderr
    assert site.read_record("carol") is None
