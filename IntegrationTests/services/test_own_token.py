"""A user's own token without root: `emailotp status`, `set-pin`, `recovery-codes` and
`forget` run by an unprivileged user on a pty (pexpect), served by the installed setuid
helper for the user of its real uid. The new PIN works at the next sudo; a wrong code changes
nothing and is counted; another user's token is never read or changed, whatever the caller
names, sets in its environment or links in its home.

The helper reads only /etc/security/emailotp.conf for such callers: each command runs in a
private mount namespace with the test site's configuration bind-mounted over that file."""

import os
import subprocess

import pexpect
import pytest

from lib.env import EMAILOTP
from lib.mail import extract_code, text_body

import svc
from svc import PIN
from test_sudo import CODE_PROMPT as SUDO_CODE_PROMPT, ROOT_OUTPUT, sudo_argv

pytestmark = pytest.mark.services

NEW_PIN = "new-pin-4711"
HELPER = os.path.join(os.path.dirname(os.path.dirname(EMAILOTP)), "libexec", "emailotp-helper")
CODE_PROMPT = "Email code: "


def as_user(site, user, argv, env=None):
    """argv run as `user` (real and effective uid), the site's configuration as the system's."""
    inner = ["setpriv", "--reuid", user.name, "--regid", user.name, "--init-groups", "--"]
    if env is not None:
        inner += ["env", "-i"] + ["%s=%s" % kv for kv in env.items()]
    return svc.ns_argv([(site.config, "/etc/security/emailotp.conf")], inner + list(argv))


def run_as(site, user, *args, env=None):
    p = subprocess.run(as_user(site, user, [EMAILOTP] + list(args), env=env), capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def own_alerts(smtp, user):
    return [m for m in svc.mails_to(smtp, user.email) if m.get("X-EmailOTP-Alert") == "own_token"]


def code_mails(smtp, user):
    return [m for m in svc.mails_to(smtp, user.email) if not m.get("X-EmailOTP-Alert")]


def prove(c, smtp, user, pin=PIN, code=None):
    """Answers the PIN and the code mailed for this verb (or `code`)."""
    c.expect("PIN: ")
    c.sendline(pin)
    c.expect(CODE_PROMPT)
    mailed = code_mails(smtp, user)[-1]
    assert "emailotp" in text_body(mailed), "the code mail says what it is for"
    c.sendline(code or extract_code(mailed))


@pytest.fixture
def site_ready(site):
    # The file site's configuration must be the system's for these callers (root-owned, 0600).
    site.write_config(otp_tries=3, max_fail=10, resend_interval=600)
    return site


@pytest.fixture
def alice(site_ready, users):
    user = users.create()
    site_ready.enroll(user.name, user.email, pin=PIN)
    return user


def test_status_then_set_pin_then_sudo_with_the_new_pin(tmp_path, site_ready, smtp, alice, spawn):
    site = site_ready
    rc, out, err = run_as(site, alice, "status")
    assert rc == 0, err
    assert "token:       enrolled, enabled" in out
    assert "address:     %s" % svc.masked(alice.email) in out
    assert alice.email not in out + err
    assert "locked:      no" in out and "recovery:    0 codes left" in out and "remembered:  0 hosts" in out

    c = spawn(as_user(site, alice, [EMAILOTP, "set-pin"]))
    prove(c, smtp, alice)
    c.expect("New PIN: ")
    c.sendline(NEW_PIN)
    c.expect("Repeat the PIN: ")
    c.sendline(NEW_PIN)
    c.expect("PIN changed")
    _, status = svc.finish(c)
    assert status == 0
    assert NEW_PIN not in c.seen() and PIN not in c.seen(), "PINs are read with echo off"
    assert len(own_alerts(smtp, alice)) == 1
    assert "PIN was changed" in text_body(own_alerts(smtp, alice)[0])

    # The new PIN at the next sudo (the old one no longer).
    c = spawn(sudo_argv(tmp_path, site, "token", alice))
    c.expect("PIN: ")
    c.sendline(NEW_PIN)
    c.expect(SUDO_CODE_PROMPT)
    c.sendline(extract_code(code_mails(smtp, alice)[-1]))
    c.expect(ROOT_OUTPUT)
    _, status = svc.finish(c)
    assert status == 0


def test_recovery_codes_then_forget(site_ready, smtp, alice, spawn):
    site = site_ready
    c = spawn(as_user(site, alice, [EMAILOTP, "recovery-codes", "--count", "4"]))
    prove(c, smtp, alice)
    c.expect("previous set no longer works\\):")
    rest, status = svc.finish(c)
    assert status == 0
    shown = rest.split()
    assert len(shown) == 4, c.seen()
    assert len(site.read_record(alice.name)["recovery"].split()) == 4
    rc, out, _ = run_as(site, alice, "status")
    assert "recovery:    4 codes left" in out

    rc, out, err = run_as(site, alice, "forget")
    assert rc == 0, err
    assert "forgot 0 remembered hosts and 0 cached grants" in out
    assert len(own_alerts(smtp, alice)) == 2


def test_a_wrong_code_changes_nothing_and_is_counted(site_ready, smtp, alice, spawn):
    site = site_ready
    before = site.read_record(alice.name)
    c = spawn(as_user(site, alice, [EMAILOTP, "set-pin"]))
    c.expect("PIN: ")
    c.sendline(PIN)
    for _ in range(3):
        c.expect(CODE_PROMPT)
        c.sendline(svc.wrong_code(extract_code(code_mails(smtp, alice)[-1])))
    _, status = svc.finish(c)
    assert status == 1
    assert "New PIN" not in c.seen()
    after = site.read_record(alice.name)
    assert after["pin"] == before["pin"]
    assert after["fail_count"] == "3", after["lines"]
    assert not own_alerts(smtp, alice)
    rc, out, _ = run_as(site, alice, "status")
    assert "locked:      no (3 failures of 10)" in out


def test_another_users_token_is_never_read_or_changed(site_ready, smtp, alice, users, spawn):
    site = site_ready
    mallory = users.create()
    site.enroll(mallory.name, mallory.email, pin=PIN)
    record = site.record_path(alice.name).read_bytes()

    # Named as an argument: refused with 77 before anything is asked.
    for verb in ("status", "set-pin", "recovery-codes", "forget"):
        rc, out, err = run_as(site, mallory, verb, alice.name)
        assert rc == 77, (verb, rc, out, err)
        assert "is not you" in err
        assert "address:" not in out + err
    rc, _, err = run_as(site, mallory, "status", "--config", str(site.config))
    assert rc == 64, err
    rc, _, err = run_as(site, mallory, "set-email", alice.name, "x@example.org")
    assert rc != 0 and "must be run as root" in err

    # The environment and a home that is a link to alice's: the real uid decides.
    os.rename(mallory.home, mallory.home + ".orig")
    os.symlink(alice.home, mallory.home)
    try:
        env = {"USER": alice.name, "LOGNAME": alice.name, "HOME": alice.home, "SUDO_USER": alice.name,
               "PAM_USER": alice.name, "PATH": "/usr/bin:/bin"}
        rc, out, err = run_as(site, mallory, "status", env=env)
        assert rc == 0, err
        # (both addresses mask alike: eotp_…@example.org; the names differ)
        assert "user:        %s" % mallory.name in out and alice.name not in out
        c = spawn(as_user(site, mallory, [EMAILOTP, "forget"], env=env))
        _, status = svc.finish(c)
        assert status == 0 and mallory.name in c.seen() and alice.name not in c.seen()
    finally:
        os.unlink(mallory.home)
        os.rename(mallory.home + ".orig", mallory.home)

    # The helper itself: the own-token verb takes no user, and a login of alice for mallory
    # needs helper_group.
    p = subprocess.run(as_user(site, mallory, [HELPER, "token", alice.name]), input=b"", capture_output=True, timeout=30)
    assert p.returncode == 5
    p = subprocess.run(as_user(site, mallory, [HELPER, "token"]), input=b"Q\0\0\0\x02x\0", capture_output=True, timeout=30)
    assert p.returncode == 5

    assert site.record_path(alice.name).read_bytes() == record
    assert not svc.mails_to(smtp, alice.email)


def test_no_token_costs_a_pin_prompt_and_mails_nothing(site_ready, smtp, users, spawn):
    bob = users.create()
    rc, out, _ = run_as(site_ready, bob, "status")
    assert rc == 0 and "no token (not enrolled)" in out
    c = spawn(as_user(site_ready, bob, [EMAILOTP, "set-pin"]))
    c.expect("PIN: ")
    c.sendline("whatever")
    _, status = svc.finish(c)
    assert status == 1
    assert smtp.count() == 0
    assert site_ready.read_record(bob.name) is None
