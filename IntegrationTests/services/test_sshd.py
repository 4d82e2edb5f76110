"""OpenSSH (Debian's openssh-server) with pam_emailotp, end to end.

sshd runs on a free loopback port with its own sshd_config and host key, in a
private mount namespace where the PAM file is bind-mounted over
/etc/pam.d/sshd.  The PAM file is the repo's pam.d-examples/sshd, with these
substitutions only:
  - " config=<test site config>" appended to the pam_emailotp.so line (every
    test), so that the module uses a private store and the capture SMTP server;
  - for the keyboard-interactive-only tests: "pin=none" -> "pin=token", the
    edit that the example's "Other setups" comment documents for that setup.
The ssh client is driven through a pty with pexpect.
"""

import json
import re

import pexpect
import pytest

from lib.mail import extract_code

import svc
from svc import PIN

pytestmark = pytest.mark.services

MARKER = "OK-42"     # what the remote command `echo OK-$((6*7))` prints
SENT = r"A code was sent to (\S+)\. It is valid for \d+ minutes?\."


def example_key_then_code(site):
    """The repo's sshd example as is (publickey,keyboard-interactive, pin=none)."""
    return svc.with_config(svc.read_example("sshd"), site.config)


def example_pin_then_code(site):
    """The documented keyboard-interactive-only variant: pin=token."""
    text = svc.substitute(svc.read_example("sshd"),
                          ("pam_emailotp.so pin=none", "pam_emailotp.so pin=token"))
    return svc.with_config(text, site.config)


def show(site, user):
    p = site.cli("show", user, "--json", check=True)
    return json.loads(p.stdout)


def test_keyboard_interactive_pin_then_mailed_code(site, smtp, users, sshd_factory, spawn):
    u = users.create()
    site.enroll(u.name, u.email, pin=PIN)
    sshd = sshd_factory(example_pin_then_code(site), u, "keyboard-interactive")

    c = spawn(sshd.client_argv(u.name, "keyboard-interactive"))
    c.expect("PIN: ")
    assert smtp.count() == 0, "mail sent before the PIN was given"
    c.sendline(PIN)
    c.expect(SENT)
    shown = c.match.group(1)
    c.expect("Email code: ")

    mails = svc.mails_to(smtp, u.email)
    assert len(mails) == 1 and smtp.count() == 1
    assert smtp.envelopes()[0]["rcpt_tos"] == [u.email]
    # the address is masked on the screen (mask_address defaults to true)
    assert shown == svc.masked(u.email), shown

    c.sendline(extract_code(mails[0]))
    c.expect(MARKER)
    _, status = svc.finish(c)
    assert status == 0
    assert "Accepted keyboard-interactive/pam for %s" % u.name in sshd.log_text()

    # a code is good once: the challenge is gone, the fail count is 0
    info = show(site, u.name)
    assert info["fail_count"] == 0 and not info["locked"]
    assert info.get("challenges", []) == []


def test_publickey_then_mailed_code_repo_example(site, smtp, users, sshd_factory, spawn,
                                                 tmp_path):
    u = users.create()
    site.enroll(u.name, u.email, pin=None)
    key = svc.install_key(tmp_path, u)
    sshd = sshd_factory(example_key_then_code(site), u, "publickey,keyboard-interactive")

    # without the key, keyboard-interactive alone is not offered: no mail
    c = spawn(sshd.client_argv(u.name, "publickey,keyboard-interactive"))
    i = c.expect(["Permission denied", "PIN: ", "Email code: ", "Password: ", pexpect.EOF])
    assert i == 0, "got a prompt without the key"
    _, status = svc.finish(c)
    assert status != 0 and smtp.count() == 0

    # with the key: no Unix password, no PIN, only the mailed code
    c = spawn(sshd.client_argv(u.name, "publickey,keyboard-interactive", identity=key))
    i = c.expect(["Email code: ", "PIN: ", "Password: ", "Permission denied", pexpect.EOF])
    assert i == 0, "expected the code prompt first, saw %r" % c.seen()
    assert re.search(SENT, c.seen()), "the 'code sent' message was not shown"
    mails = svc.mails_to(smtp, u.email)
    assert len(mails) == 1
    c.sendline(extract_code(mails[0]))
    c.expect(MARKER)
    _, status = svc.finish(c)
    assert status == 0

    log = sshd.log_text()
    assert "Partial publickey for %s" % u.name in log, "the key was not the first factor"
    assert "Accepted keyboard-interactive/pam for %s" % u.name in log


def _answer_until_end(c, smtp, user, pin=None):
    """Answer every prompt, PINs right and codes wrong, until the client
    gives up.  Returns (number of PIN prompts, number of code prompts)."""
    pins = codes = 0
    while True:
        i = c.expect(["PIN: ", "Email code: ", "Password: ", pexpect.EOF], timeout=120)
        if i == 0:
            pins += 1
            c.sendline(pin)
        elif i == 1:
            codes += 1
            mails = svc.mails_to(smtp, user.email)
            assert mails, "code prompt without a mail"
            c.sendline(svc.wrong_code(extract_code(mails[-1])))
        elif i == 2:
            raise AssertionError("unexpected Unix password prompt")
        else:
            c.close()
            return pins, codes


def test_wrong_code_prompts_match_otp_tries(site, smtp, users, sshd_factory, spawn, tmp_path):
    otp_tries = 3
    site.write_config(otp_tries=otp_tries)
    u = users.create()
    site.enroll(u.name, u.email, pin=None)
    key = svc.install_key(tmp_path, u)
    sshd = sshd_factory(example_key_then_code(site), u, "publickey,keyboard-interactive")

    # NumberOfPasswordPrompts=1: one keyboard-interactive attempt, i.e. one
    # PAM transaction; every code prompt in it comes from the module.
    c = spawn(sshd.client_argv(u.name, "publickey,keyboard-interactive", identity=key,
                               prompts=1))
    pins, codes = _answer_until_end(c, smtp, u)
    seen = c.seen()
    assert c.exitstatus != 0
    assert MARKER not in seen
    assert "Permission denied" in seen
    assert pins == 0
    assert codes == otp_tries, "code prompts: %d, otp_tries: %d" % (codes, otp_tries)
    assert seen.count("Wrong code.") >= otp_tries - 1
    assert len(svc.mails_to(smtp, u.email)) == 1, "one challenge, one mail"
    assert show(site, u.name)["fail_count"] == otp_tries
    assert "Failed keyboard-interactive/pam for %s" % u.name in sshd.log_text()


def test_max_auth_tries_cannot_exceed_max_fail(site, smtp, users, sshd_factory, spawn):
    otp_tries, max_fail, max_auth_tries = 3, 4, 6
    site.write_config(otp_tries=otp_tries, max_fail=max_fail, unlock_time=0)
    u = users.create()
    site.enroll(u.name, u.email, pin=PIN)
    sshd = sshd_factory(example_pin_then_code(site), u, "keyboard-interactive",
                        max_auth_tries=max_auth_tries)

    # The client may retry keyboard-interactive as often as sshd lets it:
    # MaxAuthTries * otp_tries = 18 code prompts would be possible without
    # the lock; the token must lock after max_fail wrong codes.
    c = spawn(sshd.client_argv(u.name, "keyboard-interactive", prompts=max_auth_tries))
    pins, codes = _answer_until_end(c, smtp, u, pin=PIN)
    seen = c.seen()
    assert MARKER not in seen
    assert pins >= 2, "the client did not retry (%d PIN prompts)" % pins
    # every code prompt is a failure (the PIN is right): exactly max_fail of
    # them, then the token is locked and no further code is asked for
    assert codes == max_fail, "%d wrong codes checked in one connection, max_fail %d" % (
        codes, max_fail)
    info = show(site, u.name)
    assert info["locked"] is True, info
    mails = smtp.count()

    # locked: the right PIN sends no mail and does not log in
    c = spawn(sshd.client_argv(u.name, "keyboard-interactive", prompts=1))
    i = c.expect(["PIN: ", "Permission denied", pexpect.EOF])
    if i == 0:
        c.sendline(PIN)
        i = c.expect(["Email code: ", "Permission denied", pexpect.EOF])
        assert i != 0, "a locked token was asked for a code"
    _, status = svc.finish(c)
    assert status != 0 and MARKER not in c.seen()
    assert smtp.count() == mails, "a locked token triggered a mail"
