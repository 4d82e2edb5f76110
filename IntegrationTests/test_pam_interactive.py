"""mode=interactive (the default): one PAM transaction, PIN -> mail -> code,
through the installed pam_emailotp.so, real libpam and a loopback SMTP server."""

import email.utils
import os
import re
import stat
import subprocess

import pytest

from lib.env import ALICE, ALICE_EMAIL, ALICE_MASKED
from lib.env import DEFAULT_PIN, TestSite, encode_user
from lib.flows import CodeAnswerer, RIGHT, WRONG, PIN_PROMPT, OTP_PROMPT, wrong_code
from lib.mail import extract_code, extract_txid, text_body, code_mails
from lib.pamdriver import (PAM_SUCCESS, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL,
                           PAM_IGNORE, PAM_SERVICE_ERR, PAM_CONV_ERR, PROMPT_ECHO_OFF,
                           TEXT_INFO, ERROR_MSG, authenticate, call_module)
from lib.smtp_capture import SMTPCapture, free_privileged_port, closed_port

SENT_INFO = "A code was sent to %s. It is valid for 5 minutes." % ALICE_MASKED
MAIL_FAILED = ("The code could not be sent by email. Try again later or contact your "
               "administrator.")


def login(site, user=ALICE, args="", **kw):
    """Run one interactive login; kw go to CodeAnswerer (pin, codes, before_code)."""
    return site.authenticate(user, CodeAnswerer(site.smtp, **kw), args=args)


def assert_rc(res, rc):
    assert res.rc == rc, res.describe()


# ---------------------------------------------------------------- the main job

def test_full_login_reads_code_from_mail(site, smtp, alice):
    res = login(site)
    assert_rc(res, PAM_SUCCESS)
    t = res.transcript
    assert [(m.style, m.text) for m in t] == [
        (PROMPT_ECHO_OFF, PIN_PROMPT),
        (TEXT_INFO, SENT_INFO),
        (PROMPT_ECHO_OFF, OTP_PROMPT),
    ], res.describe()
    assert smtp.count() == 1
    msg = smtp.last()
    for h in ("Date", "Message-ID", "From", "To", "Subject", "MIME-Version",
              "X-EmailOTP-Transaction-Id"):
        assert msg[h], "missing header %s:\n%s" % (h, msg.as_string())
    assert str(msg["MIME-Version"]).strip() == "1.0"
    assert email.utils.parsedate_to_datetime(str(msg["Date"])) is not None
    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", str(msg["Message-ID"]).strip())
    assert email.utils.parseaddr(str(msg["To"]))[1] == ALICE_EMAIL
    assert email.utils.parseaddr(str(msg["From"]))[1] == site.keys["mail_sender"]
    assert msg.get_content_type() == "multipart/alternative"
    env = smtp.envelopes()[0]
    assert env["rcpt_tos"] == [ALICE_EMAIL]
    code = extract_code(msg)
    assert len(code) == 6
    assert code not in str(msg["Subject"])
    assert "emailotp-test" in str(msg["Subject"])          # {service}
    extract_txid(msg)
    body = text_body(msg)
    assert "alice" in body and "emailotp-test" in body
    # the code is good once: it is gone from the store, the fail count is 0
    assert site.challenges(ALICE) == []
    assert site.read_record(ALICE)["fail_count"] == "0"


@pytest.mark.parametrize("quiet", [dict(flags=0x8000), dict(tty=""), dict(tty=None)],
                         ids=["PAM_SILENT", "empty PAM_TTY", "no PAM_TTY"])
def test_a_quiet_application_gets_where_the_code_went_in_the_code_prompt(site, smtp, alice, quiet):
    # PAM_SILENT (which sudo passes by default) or no terminal: no separate message, which sudo
    # would print on the command's standard output (pam_emailotp(8), NOTES).
    res = site.authenticate(ALICE, CodeAnswerer(site.smtp, codes=[WRONG, RIGHT]), **quiet)
    assert_rc(res, PAM_SUCCESS)
    prompt = "Code sent to %s (valid 5 min): " % ALICE_MASKED
    assert [(m.style, m.text) for m in res.transcript] == [
        (PROMPT_ECHO_OFF, PIN_PROMPT), (PROMPT_ECHO_OFF, prompt), (ERROR_MSG, "Wrong code. 2 tries left."),
        (PROMPT_ECHO_OFF, prompt)], res.describe()
    assert smtp.count() == 1


def test_blank_code_answers_count_nothing_and_end_the_attempt(site, smtp, alice):
    for attempt in range(3):
        res = site.authenticate(ALICE, CodeAnswerer(site.smtp, codes=["  "]))
        assert_rc(res, PAM_CONV_ERR)
    assert site.read_record(ALICE)["fail_count"] == "0"
    assert site.challenges(ALICE)[-1]["tries_left"] == 3, "no try of the open code was spent"


def test_full_address_never_shown_to_user(site, smtp, alice):
    res = login(site)
    assert_rc(res, PAM_SUCCESS)
    for m in res.transcript:
        assert ALICE_EMAIL not in m.text


def test_store_never_holds_the_code(site, smtp, alice):
    out = site.dir / "seen"

    def before():   # runs in the PAM transaction, at the code prompt
        out.write_text(extract_code(smtp.last()) + "\n" + site.record_path(ALICE).read_text())
    res = login(site, before_code=before)
    assert_rc(res, PAM_SUCCESS)
    code, record = out.read_text().split("\n", 1)
    assert "challenge " in record
    assert code not in record


def test_unknown_user_creates_no_store_files(site, smtp, alice):
    """An unauthenticated caller (sshd passes any user name to PAM) must not be
    able to create files in the store: one lock file per guessed name fills
    /var/lib/emailotp/locks without bound. The one decoy record every attempt that changes
    nothing writes (users/.decoy: the same durable writes as a charge) is the only file."""
    before = site.snapshot()
    for name in ("mallory", "mallory2", "root"):
        assert_rc(login(site, user=name), PAM_AUTH_ERR)
    after = site.snapshot()
    # the host key may be made lazily; the decoy is one fixed file, whatever the names
    new = sorted(p for p in set(after) - set(before) if p not in ("hmac.key", "users/.decoy"))
    assert new == []


def test_failure_requests_fail_delay(site, smtp, alice):
    res = login(site, pin="wrong-pin")
    assert_rc(res, PAM_AUTH_ERR)
    assert res.fail_delays and max(res.fail_delays) > 0, res.fail_delays


def test_try_first_pass_falls_back_to_prompt(site, smtp, alice):
    res = site.authenticate(ALICE, CodeAnswerer(smtp), args="try_first_pass",
                            authtok="not-the-pin")
    assert_rc(res, PAM_SUCCESS)
    assert res.prompts == [PIN_PROMPT, OTP_PROMPT]


def test_try_first_pass_uses_right_authtok(site, smtp, alice):
    res = site.authenticate(ALICE, CodeAnswerer(smtp, pin=None), args="try_first_pass",
                            authtok=DEFAULT_PIN)
    assert_rc(res, PAM_SUCCESS)
    assert res.prompts == [OTP_PROMPT]


def test_wrong_pin_fails_without_mail(site, smtp, alice):
    res = login(site, pin="not-the-pin")
    assert_rc(res, PAM_AUTH_ERR)
    assert res.prompts == [PIN_PROMPT]
    assert smtp.count() == 0
    assert site.read_record(ALICE)["fail_count"] == "1"
    assert site.challenges(ALICE) == []


def test_wrong_code_then_right_code_succeeds(site, smtp, alice):
    site.write_config(otp_tries=3)
    res = login(site, codes=[WRONG, WRONG, RIGHT])
    assert_rc(res, PAM_SUCCESS)
    assert res.prompts == [PIN_PROMPT, OTP_PROMPT, OTP_PROMPT, OTP_PROMPT]
    assert res.errors[0] == "Wrong code. 2 tries left."
    assert len(res.errors) == 2
    assert smtp.count() == 1                       # retries do not send new mails
    assert site.challenges(ALICE) == []
    assert site.read_record(ALICE)["fail_count"] == "0"


def test_all_codes_wrong_fails(site, smtp, alice):
    site.write_config(otp_tries=3)
    res = login(site, codes=[WRONG, WRONG, WRONG, RIGHT])
    assert_rc(res, PAM_AUTH_ERR)
    assert res.prompts == [PIN_PROMPT, OTP_PROMPT, OTP_PROMPT, OTP_PROMPT]
    assert smtp.count() == 1
    assert site.challenges(ALICE) == []            # the challenge is void


def test_expired_code_refused(site, smtp, alice):
    res = login(site, before_code=lambda: site.expire_challenges(ALICE), codes=[RIGHT])
    assert_rc(res, PAM_AUTH_ERR)
    assert "The code has expired." in res.errors, res.describe()


def test_replayed_code_refused(site, smtp, alice):
    first = login(site)
    assert_rc(first, PAM_SUCCESS)
    old = extract_code(smtp.last())
    second = login(site, args="otp_tries=1", codes=[old])
    assert smtp.count() == 2
    if extract_code(smtp.last()) == old:
        pytest.skip("the new code equals the old one by chance (1 in 10^6)")
    assert_rc(second, PAM_AUTH_ERR)


def test_unknown_user_prompted_then_refused(site, smtp, alice):
    res = login(site, user="mallory")
    assert_rc(res, PAM_AUTH_ERR)                     # exactly like a wrong PIN
    assert res.prompts == [PIN_PROMPT]               # same first prompt as an enrolled user
    assert smtp.count() == 0
    assert not site.record_path("mallory").exists()


def test_unknown_user_same_prompt_as_known_wrong_pin(site, smtp, alice):
    known = login(site, pin="wrong-pin")
    unknown = login(site, user="mallory", pin="wrong-pin")
    assert known.rc == unknown.rc == PAM_AUTH_ERR
    assert [(m.style, m.text) for m in known.transcript] == \
        [(m.style, m.text) for m in unknown.transcript]


def test_nullok_no_token_ignores(site, smtp):
    """The module itself returns PAM_IGNORE (called directly on a libpam handle:
    libpam turns a stack where every module ignored into PAM_PERM_DENIED)."""
    res = call_module(site.module, "nobody-enrolled", "config=%s nullok" % site.config,
                      lambda s, t: DEFAULT_PIN)
    assert_rc(res, PAM_IGNORE)
    assert smtp.count() == 0


def test_nullok_no_token_is_ignored_in_a_stack(site, smtp):
    """[ignore=1 default=die]: only PAM_IGNORE jumps over pam_deny to pam_permit."""
    stack = "\n".join([
        site.module_line("nullok", control="[ignore=1 default=die]"),
        "auth requisite pam_deny.so",
        "auth required pam_permit.so",
        "account required pam_permit.so",
    ]) + "\n"
    res = site.authenticate("nobody-enrolled", lambda s, t: DEFAULT_PIN, stack=stack)
    assert_rc(res, PAM_SUCCESS)
    assert smtp.count() == 0


def test_no_token_without_nullok_is_a_wrong_pin_direct(site, smtp):
    res = call_module(site.module, "nobody-enrolled", "config=%s" % site.config,
                      lambda s, t: DEFAULT_PIN)
    assert_rc(res, PAM_AUTH_ERR)


def test_nullok_sufficient_then_deny_still_refuses(site, smtp):
    stack = "\n".join([
        site.module_line("nullok", control="sufficient"),
        "auth required pam_deny.so",
        "account required pam_permit.so",
    ]) + "\n"
    res = site.authenticate("nobody-enrolled", lambda s, t: DEFAULT_PIN, stack=stack)
    assert res.rc != PAM_SUCCESS, res.describe()
    assert_rc(res, PAM_AUTH_ERR)


def test_nullok_enrolled_user_still_needs_code(site, smtp, alice):
    res = login(site, args="nullok", pin="wrong-pin")
    assert_rc(res, PAM_AUTH_ERR)
    res = login(site, args="nullok")
    assert_rc(res, PAM_SUCCESS)


def test_pin_none_asks_no_pin(site, smtp, alice):
    res = login(site, args="pin=none")
    assert_rc(res, PAM_SUCCESS)
    assert res.prompts == [OTP_PROMPT]
    assert smtp.count() == 1


def test_pin_none_with_token_enrolled_without_pin(site, smtp):
    site.enroll("bob", "bob@example.com", pin=None)
    res = login(site, user="bob", args="pin=none")
    assert_rc(res, PAM_SUCCESS)
    assert res.prompts == [OTP_PROMPT]


def test_use_first_pass_takes_pin_from_authtok(site, smtp, alice):
    res = site.authenticate(ALICE, CodeAnswerer(smtp, pin=None), args="use_first_pass",
                            authtok=DEFAULT_PIN)
    assert_rc(res, PAM_SUCCESS)
    assert PIN_PROMPT not in res.prompts
    assert res.prompts == [OTP_PROMPT]


def test_use_first_pass_wrong_authtok_fails_without_prompt(site, smtp, alice):
    res = site.authenticate(ALICE, CodeAnswerer(smtp, pin=None), args="use_first_pass",
                            authtok="wrong-pin")
    assert_rc(res, PAM_AUTH_ERR)
    assert res.prompts == []
    assert smtp.count() == 0


def test_custom_prompts_from_config(site, smtp, alice):
    site.write_config(pin_prompt="Token PIN: ", otp_prompt="Mailed code: ")
    res = site.authenticate(ALICE, CodeAnswerer(smtp, pin_prompt="Token PIN: ",
                                                otp_prompt="Mailed code: "))
    assert_rc(res, PAM_SUCCESS)
    assert res.prompts == ["Token PIN: ", "Mailed code: "]


def test_conversation_without_answer_is_conv_err(site, smtp, alice):
    res = site.authenticate(ALICE, lambda s, t: None)
    assert_rc(res, PAM_CONV_ERR)
    assert smtp.count() == 0


# ---------------------------------------------------------------- locking

def test_lock_after_max_fail_and_reset_unlocks(site, smtp, alice):
    site.write_config(max_fail=3, unlock_time=0)
    for _ in range(3):
        assert_rc(login(site, pin="wrong-pin"), PAM_AUTH_ERR)
    res = login(site)                                # the right PIN, but locked
    assert_rc(res, PAM_AUTH_ERR)
    assert code_mails(smtp) == []                    # (the lockout alert went out)
    assert site.read_record(ALICE)["locked_at"] != "0"
    site.cli("reset", ALICE, check=True)
    rec = site.read_record(ALICE)
    assert rec["fail_count"] == "0" and rec["locked_at"] == "0"
    res = login(site)
    assert_rc(res, PAM_SUCCESS)
    assert len(code_mails(smtp)) == 1


def test_wrong_codes_count_toward_lock(site, smtp, alice):
    site.write_config(max_fail=2, otp_tries=3, unlock_time=0)
    res = login(site, codes=[WRONG, WRONG, WRONG])
    assert_rc(res, PAM_AUTH_ERR)
    res = login(site)
    assert_rc(res, PAM_AUTH_ERR)
    assert len(code_mails(smtp)) == 1                # locked: no second code mail


def test_success_resets_fail_count(site, smtp, alice):
    site.write_config(max_fail=3)
    assert_rc(login(site, pin="wrong-pin"), PAM_AUTH_ERR)
    assert_rc(login(site, pin="wrong-pin"), PAM_AUTH_ERR)
    assert_rc(login(site), PAM_SUCCESS)
    assert site.read_record(ALICE)["fail_count"] == "0"
    assert_rc(login(site, pin="wrong-pin"), PAM_AUTH_ERR)
    assert_rc(login(site), PAM_SUCCESS)               # not locked: the count restarted


def test_disabled_token_refused_without_mail(site, smtp, alice):
    site.cli("disable", ALICE, check=True)
    res = login(site)
    assert_rc(res, PAM_AUTH_ERR)
    assert smtp.count() == 0
    site.cli("enable", ALICE, check=True)
    assert_rc(login(site), PAM_SUCCESS)


def test_rate_limit_refuses_without_mail(site, smtp, alice):
    site.write_config(max_mails_per_hour=2)
    assert_rc(login(site), PAM_SUCCESS)
    assert_rc(login(site), PAM_SUCCESS)
    res = login(site)
    assert_rc(res, PAM_AUTHINFO_UNAVAIL)
    assert "Too many codes were requested. Try again later." in res.errors
    assert smtp.count() == 2


# ---------------------------------------------------------------- mail failures

def test_dead_smtp_port_is_authinfo_unavail_and_drops_challenge(site, smtp, alice):
    site.write_config(mail_port=closed_port(), mail_timeout=5)
    res = login(site)
    assert_rc(res, PAM_AUTHINFO_UNAVAIL)
    assert OTP_PROMPT not in res.prompts
    assert MAIL_FAILED in res.errors
    assert site.challenges(ALICE) == []
    out = site.cli("challenges", check=True).stdout
    assert not [l for l in out.splitlines() if l.split()[:1] == [ALICE]], out


def test_starttls_auth_with_ca_file(product, tmp_path):
    with SMTPCapture(tmp_path / "mail", tls="starttls", auth=("mailer", "mail-pw"),
                     require_starttls=True) as smtp:
        site = TestSite(tmp_path, smtp=smtp, keys=dict(
            mail_tls="starttls", mail_user="mailer", mail_password="mail-pw",
            mail_ca_file=smtp.ca_file, resend_interval=0))
        site.enroll(ALICE, ALICE_EMAIL)
        res = login(site)
        assert_rc(res, PAM_SUCCESS)
        assert smtp.count() == 1
        assert [(u, ok) for _, u, ok in smtp.auth_log] == [("mailer", True)]
        ev = [e["ev"] for e in smtp.events()]
        assert ev.index("starttls") < ev.index("auth"), ev
        assert all(e["tls"] for e in smtp.events() if e["ev"] == "auth")
        assert smtp.envelopes()[0]["tls"] is True
        assert smtp.envelopes()[0]["auth_user"] == "mailer"


def test_starttls_required_but_not_offered(site, smtp, alice):
    site.write_config(mail_tls="starttls", mail_ca_file=smtp.ca_file)
    res = login(site)
    assert_rc(res, PAM_AUTHINFO_UNAVAIL)
    assert smtp.count() == 0
    assert site.challenges(ALICE) == []


def test_password_over_plaintext_to_remote_host_is_config_error(site, smtp, alice):
    site.write_config(mail_server="192.0.2.1", mail_port=25, mail_user="mailer",
                      mail_password="mail-pw", mail_tls="none", mail_timeout=2)
    res = login(site)
    assert_rc(res, PAM_SERVICE_ERR)
    assert smtp.count() == 0


def test_password_over_plaintext_to_privileged_loopback_port_is_allowed(product, tmp_path):
    with SMTPCapture(tmp_path / "mail", auth=("mailer", "mail-pw"), port=free_privileged_port()) as smtp:
        site = TestSite(tmp_path, smtp=smtp, keys=dict(
            mail_user="mailer", mail_password="mail-pw", resend_interval=0))
        site.enroll(ALICE, ALICE_EMAIL)
        res = login(site)
        assert_rc(res, PAM_SUCCESS)
        assert [(u, ok) for _, u, ok in smtp.auth_log] == [("mailer", True)]


def test_password_over_plaintext_to_unprivileged_loopback_port_is_refused(product, tmp_path):
    # Any local user can bind an unprivileged port while the relay is down and read AUTH PLAIN.
    with SMTPCapture(tmp_path / "mail", auth=("mailer", "mail-pw")) as smtp:
        assert smtp.port >= 1024
        site = TestSite(tmp_path, smtp=smtp, keys=dict(resend_interval=0))
        site.enroll(ALICE, ALICE_EMAIL)
        site.write_config(mail_user="mailer", mail_password="mail-pw")
        res = login(site)
        assert_rc(res, PAM_SERVICE_ERR)
        assert smtp.auth_log == [] and smtp.count() == 0


# ---------------------------------------------------------------- configuration

@pytest.mark.parametrize("key,value", [
    ("otp_length", "5"),
    ("otp_length", "11"),
    ("otp_tries", "0"),
    ("otp_validity", "10"),
    ("mail_tls", "ssl"),
    ("mail_port", "70000"),
    ("concurrent_challenges", "maybe"),
    ("mail_transport", "carrier-pigeon"),
    ("no_such_key", "1"),
])
def test_bad_config_value_is_service_err(site, smtp, alice, key, value):
    site.write_config(**{key: value})
    res = login(site)
    assert_rc(res, PAM_SERVICE_ERR)
    assert smtp.count() == 0


@pytest.mark.parametrize("arg", ["no_such_argument", "otp_length=99", "mode=sideways",
                                 "pin=maybe", "otp_tries=0", "mail_tls=maybe"])
def test_bad_module_argument_is_service_err(site, smtp, alice, arg):
    res = login(site, args=arg)
    assert_rc(res, PAM_SERVICE_ERR)
    assert smtp.count() == 0


def test_missing_config_named_by_argument_is_service_err(site, smtp, alice):
    stack = site.module_line(config=False) + \
        " config=%s\naccount required pam_permit.so\n" % (site.dir / "missing.conf")
    res = site.authenticate(ALICE, CodeAnswerer(smtp), stack=stack)
    assert_rc(res, PAM_SERVICE_ERR)
    assert smtp.count() == 0


def test_module_argument_overrides_config(site, smtp, alice):
    site.write_config(otp_tries=3)
    res = login(site, args="otp_tries=1", codes=[WRONG, RIGHT])
    assert_rc(res, PAM_AUTH_ERR)
    assert res.prompts == [PIN_PROMPT, OTP_PROMPT]


def test_duplicate_config_key_is_service_err(site, smtp, alice):
    with open(site.config, "a") as f:
        f.write("otp_tries = 2\notp_tries = 3\n")
    res = login(site)
    assert_rc(res, PAM_SERVICE_ERR)


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o660, 0o666])
def test_config_writable_by_group_or_others_is_service_err(site, smtp, alice, mode):
    os.chmod(site.config, mode)
    res = login(site)
    assert_rc(res, PAM_SERVICE_ERR)
    assert smtp.count() == 0


def test_config_with_password_readable_by_group_is_service_err(site, smtp, alice):
    site.write_config(mail_user="mailer", mail_password="mail-pw")
    os.chmod(site.config, 0o640)
    res = login(site)
    assert_rc(res, PAM_SERVICE_ERR)
    assert smtp.count() == 0


def test_config_not_owned_by_root_is_service_err(site, smtp, alice):
    os.chown(site.config, 65534, 65534)
    res = login(site)
    assert_rc(res, PAM_SERVICE_ERR)


def test_config_symlink_is_service_err(site, smtp, alice):
    link = site.dir / "link.conf"
    os.symlink(site.config, link)
    stack = site.module_line(config=False) + " config=%s\naccount required pam_permit.so\n" % link
    res = site.authenticate(ALICE, CodeAnswerer(smtp), stack=stack)
    assert_rc(res, PAM_SERVICE_ERR)
    assert smtp.count() == 0


def test_readable_config_without_password_is_accepted(site, smtp, alice):
    os.chmod(site.config, 0o644)
    assert_rc(login(site), PAM_SUCCESS)


# ---------------------------------------------------------------- store hygiene

HOSTILE = ["../x", "a/b", ".", "..", "../../etc/emailotp-pwned", "/tmp/x",
           "a" * 300, "x\ny", "tab\tname", "%2e%2e", "-", "@evil"]


def _tree(root):
    out = set()
    for r, dirs, files in os.walk(root):
        for n in dirs + files:
            out.add(os.path.join(r, n))
    return out


@pytest.mark.parametrize("name", HOSTILE, ids=lambda n: repr(n)[:20])
def test_hostile_user_names_stay_inside_store(site, smtp, alice, tmp_path, name):
    before = _tree(tmp_path)
    watch = ["/tmp/x", "/etc/emailotp-pwned", str(tmp_path / "x"), str(site.dir / "x"),
             str(site.store / "x"), str(site.dir / "etc")]
    watch_before = {w: os.path.lexists(w) for w in watch}
    res = login(site, user=name)
    assert res.rc is not None, res.describe()       # no crash
    assert res.rc != PAM_SUCCESS, res.describe()
    assert smtp.count() == 0
    # enrolling it through the command is refused or stays inside the store
    site.cli("enroll", name, "--email", "x@example.com", "--pin-stdin",
             input=DEFAULT_PIN + "\n")
    after = _tree(tmp_path)
    new = after - before
    store = str(site.store) + os.sep
    outside = [p for p in new if not p.startswith(store) and not p.startswith(str(smtp.directory))]
    assert outside == [], outside
    for p in new:
        rel = os.path.relpath(p, site.store)
        parts = rel.split(os.sep)
        assert ".." not in parts
        if len(parts) == 2 and parts[0] in ("users", "locks"):
            assert parts[1] in (encode_user(name), encode_user(ALICE)) or \
                parts[1].startswith("."), p
    assert {w: os.path.lexists(w) for w in watch} == watch_before


def _bob(site):
    site.enroll("bob", "bob@example.com")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "no-version", "bad-number",
                                    "mode-0644", "symlink", "owner-nobody"])
def test_damaged_record_fails_closed_for_that_user_only(site, smtp, alice, damage):
    _bob(site)
    path = site.record_path(ALICE)
    text = path.read_text()
    if damage == "garbage":
        TestSite.write_file(path, "\x00\xff not a record\n", 0o600)
    elif damage == "truncated":
        TestSite.write_file(path, text[: len(text) // 2], 0o600)
    elif damage == "no-version":
        TestSite.write_file(path, text.split("\n", 1)[1], 0o600)
    elif damage == "bad-number":
        TestSite.write_file(path, text.replace("fail_count 0", "fail_count -99999999999999999999999"), 0o600)
    elif damage == "mode-0644":
        os.chmod(path, 0o644)
    elif damage == "symlink":
        real = site.dir / "alice-record"
        TestSite.write_file(real, text, 0o600)
        os.unlink(path)
        os.symlink(real, path)
    elif damage == "owner-nobody":
        os.chown(path, 65534, 65534)
    res = login(site)
    assert res.rc in (PAM_AUTHINFO_UNAVAIL,), res.describe()
    assert smtp.count() == 0
    # another user's login is not affected
    res = login(site, user="bob")
    assert_rc(res, PAM_SUCCESS)


def test_store_directory_with_wrong_mode_refused(site, smtp, alice):
    os.chmod(site.store, 0o755)
    try:
        res = login(site)
        assert res.rc != PAM_SUCCESS, res.describe()
        assert smtp.count() == 0
    finally:
        os.chmod(site.store, 0o700)


def test_parallel_logins_cannot_share_one_code(site, smtp, alice):
    """challenge mode, 8 transactions at once with the same PIN+code: one wins."""
    from concurrent.futures import ThreadPoolExecutor
    args = "mode=challenge"
    res = site.authenticate(ALICE, lambda s, t: DEFAULT_PIN, args=args)
    assert_rc(res, PAM_AUTH_ERR)
    code = extract_code(smtp.last())
    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda _: site.authenticate(
            ALICE, lambda s, t: DEFAULT_PIN + code, args=args), range(8)))
    rcs = sorted(r.rc for r in results)
    assert rcs.count(PAM_SUCCESS) == 1, [r.describe() for r in results]
    assert all(rc in (PAM_SUCCESS, PAM_AUTH_ERR) for rc in rcs), rcs


def test_parallel_wrong_pins_all_counted(site, smtp, alice):
    from concurrent.futures import ThreadPoolExecutor
    site.write_config(max_fail=100)
    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda _: login(site, pin="wrong-pin"), range(8)))
    assert all(r.rc == PAM_AUTH_ERR for r in results)
    assert site.read_record(ALICE)["fail_count"] == "8"


# ---------------------------------------------------------------- transports

def test_maildir_transport_delivers_into_new(site, smtp, alice, tmp_path):
    md = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (md / sub).mkdir(parents=True, mode=0o700)

    def newest():
        files = sorted((md / "new").iterdir(), key=lambda p: p.stat().st_mtime_ns)
        assert files, "nothing delivered into %s/new" % md
        return files[-1].read_bytes()
    site.write_config(mail_transport="maildir:%s" % md)
    res = site.authenticate(ALICE, CodeAnswerer(newest))
    assert_rc(res, PAM_SUCCESS)
    assert len(list((md / "new").iterdir())) == 1
    assert list((md / "tmp").iterdir()) == []
    assert smtp.count() == 0


# ---------------------------------------------------------------- logging

def test_log_lines_never_hold_pin_or_code(site, smtp, alice, syslog):
    res = login(site, args="debug", codes=[WRONG, RIGHT])
    assert_rc(res, PAM_SUCCESS)
    code = extract_code(smtp.last())
    assert_rc(login(site, args="debug", pin="Wrong-PIN-77"), PAM_AUTH_ERR)
    everything = syslog.lines()
    text = "\n".join(t for _, _, t in everything)        # no secret anywhere
    lines = [l for l in everything if "pam_emailotp" in l[2]]
    assert lines, "the module logged nothing: %r" % everything
    assert DEFAULT_PIN not in text and "Wrong-PIN-77" not in text
    assert code not in text and wrong_code(code) not in text
    assert ALICE_EMAIL not in text                      # masked
    assert {f for f, _, _ in lines} == {10}, lines      # LOG_AUTHPRIV
    low = text.lower()
    assert "granted" in low and "wrong pin" in low and "wrong code" in low


def test_log_never_holds_mail_password(product, tmp_path, syslog):
    with SMTPCapture(tmp_path / "mail", tls="starttls", auth=("mailer", "Sekr1t-mail-pw"),
                     require_starttls=True) as smtp:
        site = TestSite(tmp_path, smtp=smtp, keys=dict(
            mail_tls="starttls", mail_user="mailer", mail_password="Wrong-mail-pw",
            mail_ca_file=smtp.ca_file, resend_interval=0))
        site.enroll(ALICE, ALICE_EMAIL)
        res = login(site, args="debug")
        assert_rc(res, PAM_AUTHINFO_UNAVAIL)
        text = syslog.text()
        assert "mail failed" in text.lower() or "mail" in text.lower()
        assert "Wrong-mail-pw" not in text and "Sekr1t-mail-pw" not in text
