"""su (util-linux su) with pam_emailotp: the code goes to the TARGET user.

root cannot be the invoker (pam_rootok lets root su without
authentication), so test user A runs `su B` on a pty:
`su --pty A -c "su B -c 'id -un'"`, all in a private mount namespace where
the PAM file is bind-mounted over /etc/pam.d/su.  The outer su (root -> A)
goes through the same file and is let through by pam_rootok without a mail.

PAM file: the repo's pam.d-examples/su with " config=<test site config>"
appended to the pam_emailotp.so line.
"""

import re

import pexpect
import pytest

from lib.mail import extract_code

import svc
from svc import PIN

pytestmark = pytest.mark.services

SENT = r"A code was sent to (\S+)\. It is valid for \d+ minutes?\."


@pytest.fixture
def pair(tmp_path, site, users):
    a, b = users.create(), users.create()
    site.enroll(a.name, a.email, pin=PIN)
    site.enroll(b.name, b.email, pin=PIN)
    pam = svc.write_file(tmp_path / "pam.su", svc.with_config(svc.read_example("su"), site.config))
    argv = svc.ns_argv([(pam, "/etc/pam.d/su")],
                       ["su", "--pty", a.name, "-c", "su %s -c 'id -un'" % b.name])
    return a, b, argv


def ran_as(seen, user):
    return re.search(r"(?m)^%s\r?$" % re.escape(user.name), seen) is not None


def test_su_password_then_code_to_target(site, smtp, pair, spawn):
    a, b, argv = pair
    c = spawn(argv)
    c.expect("Password: ")
    c.sendline(b.password)
    c.expect(SENT)
    c.expect("Email code: ")
    assert svc.mails_to(smtp, a.email) == [], "the code went to the invoking user"
    mails = svc.mails_to(smtp, b.email)
    assert len(mails) == 1 and smtp.count() == 1
    assert smtp.envelopes()[0]["rcpt_tos"] == [b.email]
    c.sendline(extract_code(mails[0]))
    _, status = svc.finish(c)
    assert status == 0
    assert ran_as(c.seen(), b)


def test_su_wrong_code_refused(site, smtp, pair, spawn):
    otp_tries = 2
    site.write_config(otp_tries=otp_tries)
    a, b, argv = pair
    c = spawn(argv)
    c.expect("Password: ")
    c.sendline(b.password)
    codes = 0
    while True:
        i = c.expect(["Email code: ", "Password: ", pexpect.EOF])
        if i == 0:
            codes += 1
            c.sendline(svc.wrong_code(extract_code(svc.mails_to(smtp, b.email)[-1])))
        elif i == 1:
            raise AssertionError("password asked again in one su run")
        else:
            break
    _, status = svc.finish(c)
    assert status != 0
    assert codes == otp_tries
    assert "Authentication failure" in c.seen()
    assert not ran_as(c.seen(), b)
    assert svc.mails_to(smtp, a.email) == []


def test_su_callers_proxy_environment_does_not_steer_the_mail(site, smtp, users, tmp_path, spawn):
    """su keeps the caller's environment: A's ALL_PROXY & co. must not reach libcurl while
    the module mails B's code."""
    import socket
    trap = socket.socket()
    trap.bind(("127.0.0.1", 0))
    trap.listen(16)
    trap.setblocking(False)
    url = "http://127.0.0.1:%d" % trap.getsockname()[1]
    bogus = tmp_path / "bogus-ca.pem"
    bogus.write_text("not a certificate\n")
    hostile = " ".join("%s=%s" % kv for kv in [
        ("ALL_PROXY", url), ("all_proxy", url), ("smtp_proxy", url), ("HTTPS_PROXY", url),
        ("https_proxy", url), ("http_proxy", url), ("NO_PROXY", "example.invalid"),
        ("SSL_CERT_FILE", bogus), ("CURL_CA_BUNDLE", bogus)])
    a, b = users.create(), users.create()
    site.enroll(a.name, a.email, pin=PIN)
    site.enroll(b.name, b.email, pin=PIN)
    pam = svc.write_file(tmp_path / "pam.su", svc.with_config(svc.read_example("su"), site.config))
    argv = svc.ns_argv([(pam, "/etc/pam.d/su")],
                       ["su", "--pty", a.name, "-c", "env %s su %s -c 'id -un'" % (hostile, b.name)])
    try:
        c = spawn(argv)
        c.expect("Password: ")
        c.sendline(b.password)
        c.expect(SENT)
        c.expect("Email code: ")
        mails = svc.mails_to(smtp, b.email)
        assert len(mails) == 1, "the mail reached the real server"
        c.sendline(extract_code(mails[0]))
        _, status = svc.finish(c)
        assert status == 0
        assert ran_as(c.seen(), b)
        try:
            conn, _ = trap.accept()
            conn.close()
            raise AssertionError("the module connected to the caller's proxy")
        except BlockingIOError:
            pass
    finally:
        trap.close()
