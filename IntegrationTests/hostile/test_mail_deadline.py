"""mail_timeout on the helper's path: real su run by an unprivileged caller (the module's clean
process, then the setuid helper, which sends the mail) against a hostile SMTP server on
loopback that goes silent before its reply to the end of the message, or after accepting it
(QUIT never answered). Either way the login moves on within mail_timeout: refused in the
first case, at the code prompt in the second (the mail counts as sent)."""

import os
import time

import pytest

import svc
from lib.env import TestSite
from lib.flows import ANY_OTP_PROMPT
from lib.stalling_smtp import StallingSMTP

pytestmark = pytest.mark.hostile

STACK = ("auth sufficient pam_rootok.so\n"
         "auth required pam_emailotp.so config=%s\n"
         "account required pam_permit.so\n"
         "session required pam_permit.so\n")
TIMEOUT = 3
SLACK = 1.5


@pytest.mark.parametrize("step", ["end", "quit"])
def test_su_mail_ends_within_mail_timeout(step, tmp_path, helper_installed, users, spawn):
    os.chmod(tmp_path, 0o755)
    with StallingSMTP(step) as server:
        site = TestSite(tmp_path, smtp=server, name="stall", keys={
            "mail_timeout": TIMEOUT, "mail_tls": "none", "resend_interval": 0, "fail_delay": 0})
        caller, target = users.create(), users.create()
        site.enroll(target.name, target.email, pin=svc.PIN)
        pam = svc.write_file(tmp_path / "pam.su", STACK % site.config)
        c = spawn(svc.ns_argv([(pam, "/etc/pam.d/su")], [
            "su", "--pty", caller.name, "-c", "su %s -c true; echo exit-status-$?" % target.name]))
        c.expect("PIN: ")
        start = time.monotonic()
        c.sendline(svc.PIN)
        seen = c.expect([ANY_OTP_PROMPT, "exit-status-"], timeout=60)
        took = time.monotonic() - start
        if step == "quit":
            assert seen == 0, "the message was accepted, yet no code prompt: " + c.seen()
            assert len(server.accepted) == 1
        else:
            assert seen == 1, c.seen()
        assert took < TIMEOUT + SLACK, "su held %.1f s with mail_timeout = %d (server silent at %s)" % (
            took, TIMEOUT, step)
