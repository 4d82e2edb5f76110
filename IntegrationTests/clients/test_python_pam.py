"""python-pam (PyPI, in a venv) as a web application does it: one password per
attempt, the application running as a Unix user that is not root.  The module
cannot read root's configuration there, so it runs the setuid helper, which
serves members of helper_group only and applies the module's rules."""

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from clientsupport import PIN, example_service, service_line, token_user
from lib.mail import extract_code, text_body

PYTHON_PAM = "python-pam==2.1.0"
APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pam_app.py")
SERVICE = "eoc-webapp"
PAM_SUCCESS, PAM_SERVICE_ERR, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL = 0, 3, 7, 9


@pytest.fixture(scope="session")
def venv():
    """A venv with python-pam from PyPI, readable by every user."""
    d = tempfile.mkdtemp(prefix="eoc-venv-")
    os.chmod(d, 0o755)
    subprocess.run(["/usr/bin/python3", "-m", "venv", os.path.join(d, "v")], check=True)
    subprocess.run([os.path.join(d, "v", "bin", "pip"), "install", "-q", PYTHON_PAM], check=True)
    yield os.path.join(d, "v", "bin", "python")
    shutil.rmtree(d, ignore_errors=True)


def login(ns, venv, user, password, as_user=None):
    p = ns.run([venv, APP], user=as_user, input=json.dumps(
        {"user": user, "password": password, "service": SERVICE}))
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.fixture
def webapp(site, staged, pam_dir, namespace, accounts):
    """(namespace, app user in helper_group, the group)"""
    group = accounts.group()
    app_user = accounts.user(groups=[group])
    site.write_config(helper_group=group, fail_delay=1)
    ns = namespace(pam_dir(**{SERVICE: example_service("webapp", staged)}))
    return ns, app_user, group


def test_member_of_helper_group_logs_in_with_pin_then_pin_and_code(webapp, venv, site, smtp):
    ns, app_user, _ = webapp
    user = token_user()
    site.enroll(user, user + "@example.org", pin=PIN)

    first = login(ns, venv, user, PIN, as_user=app_user)
    assert first["uid"] != 0
    assert not first["ok"] and first["code"] == PAM_AUTH_ERR
    assert smtp.count() == 1
    # p.messages is how the application learns that a code was mailed.
    assert any("A code was sent to" in m and "Transaction id" in m for m in first["messages"]), first

    code = extract_code(smtp.last())
    second = login(ns, venv, user, PIN + code, as_user=app_user)
    assert second["ok"] and second["code"] == PAM_SUCCESS, second
    assert "granted (via helper, caller uid %d)" % second["uid"] in ns.log_text()
    assert smtp.count() == 1


def test_non_member_is_refused_with_a_log_line_naming_helper_group(webapp, venv, site, smtp, accounts):
    ns, _, group = webapp
    outsider = accounts.user()
    user = token_user()
    site.enroll(user, user + "@example.org", pin=PIN)
    result = login(ns, venv, user, PIN, as_user=outsider)
    assert not result["ok"] and result["code"] == PAM_SERVICE_ERR
    assert "refused: not a member of helper_group %s" % group in ns.log_text()
    assert smtp.count() == 0
    assert site.read_record(user)["fail_count"] == "0"


def test_unset_helper_group_refuses_every_caller_and_says_how_to_allow(webapp, venv, site, smtp):
    ns, app_user, _ = webapp
    site.write_config(helper_group=None)
    user = token_user()
    site.enroll(user, user + "@example.org", pin=PIN)
    result = login(ns, venv, user, PIN, as_user=app_user)
    assert not result["ok"] and result["code"] == PAM_SERVICE_ERR
    assert "helper_group is not set in /etc/security/emailotp.conf; set helper_group = GROUP" in ns.log_text()
    assert smtp.count() == 0


@pytest.mark.parametrize("argument", ["config=/tmp/evil.conf", "mail_template=/etc/shadow", "pin=none"])
def test_caller_cannot_choose_settings(site, staged, pam_dir, namespace, accounts, venv, smtp, argument):
    group = accounts.group()
    app_user = accounts.user(groups=[group])
    site.write_config(helper_group=group)
    ns = namespace(pam_dir(**{SERVICE: service_line(staged, argument)}))
    user = token_user()
    site.enroll(user, user + "@example.org", pin=PIN)
    result = login(ns, venv, user, PIN, as_user=app_user)
    assert not result["ok"] and result["code"] == PAM_SERVICE_ERR
    assert "refused " + argument.split("=")[0] in ns.log_text().replace("refused argument ", "refused ")
    assert smtp.count() == 0


def test_helper_applies_the_modules_rate_limits_and_fail_counts(webapp, venv, site, smtp):
    """The same sequence through the module as root and through the helper ends
    with the same results, messages, fail counts and mails."""
    ns, app_user, _ = webapp
    site.write_config(max_mails_per_hour=2, max_fail=10)

    def sequence(user, as_user):
        site.enroll(user, user + "@example.org", pin=PIN)
        seen = []

        def step(password):
            r = login(ns, venv, user, password, as_user=as_user)
            record = site.read_record(user)
            mails = [m for m in smtp.messages() if user in str(m["To"])]
            seen.append((r["ok"], r["code"], [m.split(".")[0] for m in r["messages"]],
                         record["fail_count"], len(mails)))
            return mails

        step("wrong-" + PIN)
        step("wrong-" + PIN)
        step(PIN)
        mails = step(PIN)
        step(PIN)                                   # third mail in the hour: refused
        code = extract_code(mails[-1])
        step(PIN + "".join(str((int(c) + 1) % 10) for c in code))
        step(PIN + code)
        return seen

    as_root = sequence(token_user(), None)
    via_helper = sequence(token_user(), app_user)
    assert as_root == via_helper
    assert [s[3] for s in via_helper] == ["1", "2", "2", "2", "2", "3", "0"]
    assert via_helper[4][1] == PAM_AUTHINFO_UNAVAIL and "Too many codes were requested" in via_helper[4][2]
    assert via_helper[-1][:2] == (True, PAM_SUCCESS)


def test_pending_enrolment_through_the_helper_in_challenge_mode(webapp, venv, site, smtp):
    """A web application that is not root (the setuid helper), one password per attempt: the
    first password of a pending user mails the code and says how to finish; the PIN chosen
    followed by the code activates the token."""
    ns, app_user, _ = webapp
    user = token_user()
    address = user + "@example.org"
    p = site.cli("enroll", user, "--email", address, "--pending")
    assert p.returncode == 0, p.stderr

    first = login(ns, venv, user, "whatever-typed", as_user=app_user)
    assert not first["ok"] and first["code"] == PAM_AUTH_ERR
    assert any("log in again with a PIN you choose" in m for m in first["messages"]), first
    assert smtp.count() == 1 and smtp.envelopes()[0]["rcpt_tos"] == [address]
    assert "log in again with a PIN you choose" in " ".join(text_body(smtp.last()).split())
    code = extract_code(smtp.last())

    wrong = login(ns, venv, user, PIN + ("0" if code[0] != "0" else "1") + code[1:], as_user=app_user)
    assert not wrong["ok"]
    assert site.read_record(user)["state"] == "pending"
    assert site.read_record(user)["fail_count"] == "1"

    second = login(ns, venv, user, PIN + code, as_user=app_user)
    assert second["ok"] and second["code"] == PAM_SUCCESS, second
    assert site.read_record(user)["state"] == "enabled"
    assert smtp.last()["X-EmailOTP-Alert"] == "enrolled"

    # From now on an ordinary token: the PIN chosen opens a challenge.
    third = login(ns, venv, user, PIN, as_user=app_user)
    assert not third["ok"] and any("Log in again with your PIN followed by the code" in m for m in third["messages"])
