"""mail_timeout is one deadline for the whole SMTP exchange (emailotp.conf(5)): a hostile
server on loopback that goes silent at any step, from the greeting to the reply to QUIT,
holds `emailotp send-test` and a login (the module in-process) no longer than mail_timeout;
a message whose end was accepted counts as sent even when QUIT is never answered.
The helper's path (su, the clean process) is in hostile/test_mail_deadline.py."""

import time

import pytest

from lib.env import ALICE, ALICE_EMAIL, DEFAULT_PIN, TestSite
from lib.pamdriver import PAM_AUTHINFO_UNAVAIL, PAM_CONV_ERR
from lib.stalling_smtp import STEPS, StallingSMTP

TIMEOUT = 3
# What the process may take beyond the deadline: its start, the PIN hash, the store.
SLACK = 1.5


def make_site(tmp_path, server):
    site = TestSite(tmp_path, smtp=server, keys={"mail_timeout": TIMEOUT, "mail_tls": "none", "resend_interval": 0})
    site.enroll(ALICE, ALICE_EMAIL)
    return site


@pytest.mark.parametrize("step", STEPS)
def test_send_test_ends_within_mail_timeout(product, tmp_path, step):
    with StallingSMTP(step) as server:
        site = make_site(tmp_path, server)
        start = time.monotonic()
        p = site.cli("send-test", "someone@example.net", timeout=60)
        took = time.monotonic() - start
        if step == "quit":
            assert p.returncode == 0, "the message was accepted; only QUIT went unanswered: %s" % p.stderr
            assert len(server.accepted) == 1
        else:
            assert p.returncode != 0 and "failed" in p.stderr, p.stdout + p.stderr
        assert took < TIMEOUT + SLACK, "send-test held %.1f s with mail_timeout = %d (server silent at %s)" % (
            took, TIMEOUT, step)


@pytest.mark.parametrize("step", ["greeting", "end", "quit"])
def test_login_ends_within_mail_timeout(product, tmp_path, step):
    """The module in-process: the PIN triggers the mail; the code prompt is not answered."""
    with StallingSMTP(step) as server:
        site = make_site(tmp_path, server)
        start = time.monotonic()
        res = site.authenticate(ALICE, [DEFAULT_PIN])
        took = time.monotonic() - start
        if step == "quit":
            assert res.rc == PAM_CONV_ERR, "the mail went out, the code prompt came: " + res.describe()
            assert any("sent" in str(entry) for entry in res.transcript), res.describe()
        else:
            assert res.rc == PAM_AUTHINFO_UNAVAIL, res.describe()
        assert took < TIMEOUT + SLACK, "the login held %.1f s with mail_timeout = %d (server silent at %s)" % (
            took, TIMEOUT, step)
