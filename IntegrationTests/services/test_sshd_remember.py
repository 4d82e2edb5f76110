"""OpenSSH with `remember` (emailotp.conf(5)): a second ssh from the same address
inside the window logs in without a code prompt.  sshd sets PAM_RHOST to the
client address (127.0.0.1 here).  Same setup as test_sshd.py: the repo's
pam.d-examples/sshd with config=<site> appended."""

import re

import pexpect
import pytest

from lib.mail import extract_code

import svc
from svc import PIN

pytestmark = pytest.mark.services

MARKER = "OK-42"


def code_mails(smtp, user):
    return [m for m in svc.mails_to(smtp, user.email) if m.get("X-EmailOTP-Transaction-Id")]


def first_login(c, smtp, u, pin=None):
    if pin is not None:
        c.expect("PIN: ")
        c.sendline(pin)
    i = c.expect(["Email code: ", "PIN: ", "Password: ", "Permission denied", pexpect.EOF])
    assert i == 0, "expected the code prompt, saw %r" % c.seen()
    c.sendline(extract_code(code_mails(smtp, u)[-1]))
    c.expect(MARKER)
    _, status = svc.finish(c)
    assert status == 0


def test_publickey_then_remembered_address_skips_the_code(site, smtp, users, sshd_factory, spawn,
                                                          tmp_path):
    site.write_config(remember=600)
    u = users.create()
    site.enroll(u.name, u.email, pin=None)
    key = svc.install_key(tmp_path, u)
    sshd = sshd_factory(svc.with_config(svc.read_example("sshd"), site.config), u,
                        "publickey,keyboard-interactive")
    argv = sshd.client_argv(u.name, "publickey,keyboard-interactive", identity=key)

    first_login(spawn(argv), smtp, u)
    assert len(code_mails(smtp, u)) == 1

    c = spawn(argv)
    i = c.expect([MARKER, "Email code: ", "PIN: ", "Password: ", "Permission denied", pexpect.EOF])
    assert i == 0, "expected a login without prompts, saw %r" % c.seen()
    _, status = svc.finish(c)
    assert status == 0
    assert len(code_mails(smtp, u)) == 1, "no second code mail"
    assert "Accepted keyboard-interactive/pam for %s" % u.name in sshd.log_text()

    # after `emailotp forget` the code is asked again
    site.cli("forget", u.name, check=True)
    first_login(spawn(argv), smtp, u)
    assert len(code_mails(smtp, u)) == 2


def test_keyboard_interactive_remembered_address_still_asks_the_pin(site, smtp, users,
                                                                    sshd_factory, spawn):
    site.write_config(remember=600)
    u = users.create()
    site.enroll(u.name, u.email, pin=PIN)
    text = svc.substitute(svc.read_example("sshd"),
                          ("pam_emailotp.so pin=none", "pam_emailotp.so pin=token"))
    sshd = sshd_factory(svc.with_config(text, site.config), u, "keyboard-interactive")
    argv = sshd.client_argv(u.name, "keyboard-interactive")

    first_login(spawn(argv), smtp, u, pin=PIN)
    c = spawn(argv)
    c.expect("PIN: ")
    c.sendline(PIN)
    i = c.expect([MARKER, "Email code: ", "Permission denied", pexpect.EOF])
    assert i == 0, "expected a login after the PIN alone, saw %r" % c.seen()
    _, status = svc.finish(c)
    assert status == 0
    assert len(code_mails(smtp, u)) == 1
