"""Recovery codes, remembered hosts and alerts (emailotp(8), emailotp.conf(5)) through real libpam and a loopback SMTP server:
recovery codes (interactive, challenge mode, mail outage), remembered hosts
(PAM_RHOST), alert mails (lockout, recovery, new_host, unanswered), record format 2."""

import fcntl
import json
import os
import re
import time

from lib.env import ALICE, ALICE_EMAIL, DEFAULT_PIN, encode_user
from lib.flows import CodeAnswerer, RIGHT, PIN_PROMPT, OTP_PROMPT
from lib.mail import text_body, code_mails, alert_mails, extract_code
from lib.pamdriver import (PAM_SUCCESS, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, ERROR_MSG)

RECOVERY_PROMPT = "Recovery code: "
FALLBACK = "The code could not be sent by email. Enter one of your recovery codes instead."
CODE_SHAPE = re.compile(r"^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$")
HOST_A = "192.0.2.10"
HOST_B = "198.51.100.20"
UNANSWERED = "A one-time code mailed to you expired without being used"


def assert_rc(res, rc):
    assert res.rc == rc, res.describe()


def login(site, rhost=None, args="", codes=(RIGHT,), pin=DEFAULT_PIN):
    """An interactive login; RIGHT is the code of the newest code mail (alerts are skipped)."""
    ans = CodeAnswerer(lambda: code_mails(site.smtp)[-1], pin=pin, codes=codes)
    return site.authenticate(ALICE, ans, args=args, rhost=rhost)


def challenge(site, password, rhost=None, args=""):
    a = "mode=challenge" + (" " + args if args else "")
    return site.authenticate(ALICE, lambda style, text: password, args=a, rhost=rhost)


def new_codes(site, count=3):
    out = site.cli("recovery-codes", ALICE, "--count", str(count), check=True).stdout
    codes = out.splitlines()
    assert len(codes) == count and all(CODE_SHAPE.match(c) for c in codes), out
    return codes


def shift_remembered(site, user, seconds):
    """Move the remembered hosts' times `seconds` into the past under the user's lock
    (the module's clock cannot be moved)."""
    path = site.record_path(user)
    lockfd = os.open(site.store / "locks" / encode_user(user), os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fcntl.flock(lockfd, fcntl.LOCK_EX)
        out = []
        for line in path.read_text().splitlines():
            parts = line.split(" ")
            if parts[0] == "remember":
                parts[2] = str(int(parts[2]) - seconds)
                parts[3] = str(int(parts[3]) - seconds)
            out.append(" ".join(parts))
        site.write_file(path, "\n".join(out) + "\n", 0o600)
    finally:
        os.close(lockfd)


# ---------------------------------------------------------------- recovery codes

def test_recovery_codes_command_prints_codes_only_and_replaces(site, alice):
    first = new_codes(site, 4)
    default = site.cli("recovery-codes", ALICE, check=True).stdout.splitlines()
    assert len(default) == 10 and all(CODE_SHAPE.match(c) for c in default)
    assert len(set(default)) == 10
    record = site.record_path(ALICE).read_text()
    assert record.startswith("emailotp-token 2\n")
    assert all(c.replace("-", "") not in record for c in default + first)
    rec_line = [l for l in record.splitlines() if l.startswith("recovery ")][0]
    assert len(rec_line.split()) == 11 and all(h.startswith("$y$") for h in rec_line.split()[1:])
    # the replaced set is gone
    assert_rc(challenge(site, DEFAULT_PIN + first[0]), PAM_AUTH_ERR)
    assert "recovery:   10 codes left" in site.cli("show", ALICE, check=True).stdout


def test_recovery_codes_bad_input(site, alice):
    for bad in ("0", "21", "-1", "ten"):
        p = site.cli("recovery-codes", ALICE, "--count", bad)
        assert p.returncode != 0 and p.stdout == "", (bad, p)
        assert "count" in p.stderr, p.stderr
    p = site.cli("recovery-codes", "nobody-here")
    assert p.returncode == 1 and p.stdout == "" and "has no token" in p.stderr
    assert "recovery" not in site.record_path(ALICE).read_text()


def test_interactive_login_with_recovery_code_once(site, smtp, alice):
    codes = new_codes(site)
    res = login(site, codes=[codes[1].upper()])
    assert_rc(res, PAM_SUCCESS)
    assert len(code_mails(smtp)) == 1                # the code mail went out, the recovery code answered it
    show = site.cli("show", ALICE, "--json", check=True).stdout
    assert json.loads(show)["recovery_codes_left"] == 2
    assert "recovery:   2 codes left" in site.cli("show", ALICE, check=True).stdout
    alert = alert_mails(smtp, "recovery")
    assert len(alert) == 1 and alert[0]["To"] == ALICE_EMAIL
    assert "2 recovery codes are left" in text_body(alert[0])
    res = login(site, args="otp_tries=1", codes=[codes[1]])
    assert_rc(res, PAM_AUTH_ERR)
    assert "Wrong code." in res.errors
    assert site.read_record(ALICE)["fail_count"] == "1"


def test_challenge_mode_pin_plus_recovery_code_once(site, smtp, alice):
    codes = new_codes(site)
    assert_rc(challenge(site, DEFAULT_PIN + codes[0]), PAM_SUCCESS)
    assert code_mails(smtp) == []                    # no mail needed
    assert_rc(challenge(site, DEFAULT_PIN + codes[0]), PAM_AUTH_ERR)
    assert site.read_record(ALICE)["fail_count"] == "1"
    assert_rc(challenge(site, DEFAULT_PIN + codes[2].replace("-", "")), PAM_SUCCESS)
    assert json.loads(site.cli("show", ALICE, "--json", check=True).stdout)["recovery_codes_left"] == 1


def test_mail_outage_offers_recovery_prompt(site, smtp, alice):
    codes = new_codes(site)
    smtp.stop()

    def answer(style, text):
        return {PIN_PROMPT: DEFAULT_PIN, RECOVERY_PROMPT: codes[0]}.get(text)
    res = site.authenticate(ALICE, answer)
    assert_rc(res, PAM_SUCCESS)
    assert res.prompts == [PIN_PROMPT, RECOVERY_PROMPT]
    assert FALLBACK in res.errors
    assert site.challenges(ALICE) == []
    assert json.loads(site.cli("show", ALICE, "--json", check=True).stdout)["recovery_codes_left"] == 2


def test_mail_outage_without_codes_is_authinfo_unavail(site, smtp, alice):
    smtp.stop()
    res = site.authenticate(ALICE, lambda style, text: DEFAULT_PIN if text == PIN_PROMPT else "abcde-12345")
    assert_rc(res, PAM_AUTHINFO_UNAVAIL)
    assert RECOVERY_PROMPT not in res.prompts


def test_version1_record_still_loads(site, smtp):
    site.enroll(ALICE, ALICE_EMAIL, pin=DEFAULT_PIN)
    path = site.record_path(ALICE)
    site.write_file(path, path.read_text().replace("emailotp-token 2\n", "emailotp-token 1\n"), 0o600)
    assert_rc(login(site), PAM_SUCCESS)
    assert path.read_text().startswith("emailotp-token 2\n")


# ---------------------------------------------------------------- remembered hosts

def test_remembered_host_skips_the_code_within_the_window(site, smtp, alice):
    site.write_config(remember=600)
    assert_rc(login(site, rhost=HOST_A), PAM_SUCCESS)
    assert len(code_mails(smtp)) == 1
    res = login(site, rhost=HOST_A, codes=())
    assert_rc(res, PAM_SUCCESS)
    assert res.prompts == [PIN_PROMPT]               # the PIN is still asked
    assert len(code_mails(smtp)) == 1
    assert_rc(login(site, rhost=HOST_A, pin="wrong-pin", codes=()), PAM_AUTH_ERR)
    # another remote host, and no remote host at all, get a code
    assert_rc(login(site, rhost=HOST_B), PAM_SUCCESS)
    assert len(code_mails(smtp)) == 2
    res = login(site, rhost=None)
    assert_rc(res, PAM_SUCCESS)
    assert OTP_PROMPT in res.prompts and len(code_mails(smtp)) == 3
    show = site.cli("show", ALICE, check=True).stdout
    assert "remembered: 2 hosts" in show and HOST_A not in show
    # after the window the code is asked again
    shift_remembered(site, ALICE, 600)
    res = login(site, rhost=HOST_A)
    assert_rc(res, PAM_SUCCESS)
    assert OTP_PROMPT in res.prompts and len(code_mails(smtp)) == 4


def test_remember_in_challenge_mode(site, smtp, alice):
    site.write_config(remember=600)
    assert_rc(challenge(site, DEFAULT_PIN, rhost=HOST_A), PAM_AUTH_ERR)
    code = re.search(r"^    (\d+)", text_body(code_mails(smtp)[-1]), re.M).group(1)
    assert_rc(challenge(site, DEFAULT_PIN + code, rhost=HOST_A), PAM_SUCCESS)
    assert_rc(challenge(site, DEFAULT_PIN, rhost=HOST_A), PAM_SUCCESS)
    assert len(code_mails(smtp)) == 1
    assert_rc(challenge(site, DEFAULT_PIN, rhost=HOST_B), PAM_AUTH_ERR)   # another host: a code is mailed
    assert len(code_mails(smtp)) == 2


def test_forget_drops_remembered_hosts(site, smtp, alice):
    site.write_config(remember=600)
    assert_rc(login(site, rhost=HOST_A), PAM_SUCCESS)
    out = site.cli("forget", ALICE, check=True).stdout
    assert "forgot 1 remembered host" in out
    assert json.loads(site.cli("show", ALICE, "--json", check=True).stdout)["remembered_hosts"] == []
    res = login(site, rhost=HOST_A)
    assert_rc(res, PAM_SUCCESS)
    assert len(code_mails(smtp)) == 2
    assert site.cli("forget", "nobody-here").returncode == 1


# ---------------------------------------------------------------- alerts

def test_lockout_mails_an_alert(site, smtp, alice):
    site.write_config(max_fail=2)
    for _ in range(3):
        assert_rc(login(site, rhost=HOST_B, pin="wrong-pin", codes=()), PAM_AUTH_ERR)
    mails = alert_mails(smtp, "lockout")
    assert len(mails) == 1, [m["Subject"] for m in smtp.messages()]
    body = text_body(mails[0])
    assert mails[0]["To"] == ALICE_EMAIL
    for word in ("locked", "emailotp-test", HOST_B, os.uname().nodename, "If this was not you, tell your administrator."):
        assert word in body, body
    assert code_mails(smtp) == []


def test_new_host_alert_on_a_new_rhost_only(site, smtp, alice):
    site.write_config(notify="lockout,recovery,new_host")
    assert_rc(login(site, rhost=HOST_A), PAM_SUCCESS)
    assert len(alert_mails(smtp, "new_host")) == 1
    assert_rc(login(site, rhost=HOST_A), PAM_SUCCESS)
    assert len(alert_mails(smtp, "new_host")) == 1
    assert_rc(login(site, rhost=None), PAM_SUCCESS)
    assert len(alert_mails(smtp, "new_host")) == 1
    assert_rc(login(site, rhost=HOST_B), PAM_SUCCESS)
    mails = alert_mails(smtp, "new_host")
    assert len(mails) == 2 and HOST_B in text_body(mails[-1])


def test_default_notify_sends_no_new_host_alert(site, smtp, alice):
    assert_rc(login(site, rhost=HOST_A), PAM_SUCCESS)
    assert alert_mails(smtp) == []


# ---------------------------------------------------------------- unanswered codes

def purge(site):
    return site.cli("purge", check=True).stdout


def test_unanswered_code_is_alerted_once_after_expiry(site, smtp, alice):
    site.write_config(notify="lockout,recovery,unanswered")
    assert_rc(challenge(site, DEFAULT_PIN, rhost=HOST_B), PAM_AUTH_ERR)
    assert len(code_mails(smtp)) == 1
    challenge_line = [l for l in site.read_record(ALICE)["lines"] if l.startswith("challenge ")][0]
    assert challenge_line.endswith(" " + "emailotp-test".encode().hex() + " " + HOST_B.encode().hex()), challenge_line
    # before the code expires: nothing
    assert "unanswered" not in purge(site)
    assert alert_mails(smtp) == []
    # after (the module's clock cannot be moved: the challenge is moved into the past), the
    # periodic purge mails one alert to the enrolled address, naming the service and host
    site.expire_challenges(ALICE)
    assert "mailed 1 unanswered-code alert" in purge(site)
    mails = alert_mails(smtp, "unanswered")
    assert len(mails) == 1, [m["Subject"] for m in smtp.messages()]
    assert mails[0]["To"] == ALICE_EMAIL
    body = text_body(mails[0])
    for words in (UNANSWERED, "for emailotp-test from " + HOST_B, "Remote host: " + HOST_B,
                  "got past the first factor", "If this was not you, tell your administrator."):
        assert words in body, body
    assert not any(l.startswith(("unanswered ", "challenge ")) for l in site.read_record(ALICE)["lines"])
    # never twice: another purge, another login
    assert "unanswered" not in purge(site)
    assert_rc(login(site, rhost=HOST_A), PAM_SUCCESS)
    assert len(alert_mails(smtp)) == 1


def test_unanswered_code_is_alerted_at_the_next_login(site, smtp, alice):
    site.write_config(notify="lockout,recovery,unanswered")
    assert_rc(challenge(site, DEFAULT_PIN, rhost=HOST_B), PAM_AUTH_ERR)
    site.expire_challenges(ALICE)
    # the next login, from elsewhere, succeeds; the alert names the first one's host
    assert_rc(login(site, rhost=HOST_A), PAM_SUCCESS)
    mails = alert_mails(smtp, "unanswered")
    assert len(mails) == 1 and HOST_B in text_body(mails[0]), [m["Subject"] for m in smtp.messages()]
    assert_rc(login(site, rhost=HOST_A), PAM_SUCCESS)
    assert "unanswered" not in purge(site)
    assert len(alert_mails(smtp)) == 1


def test_used_code_is_never_alerted(site, smtp, alice):
    site.write_config(notify="lockout,recovery,unanswered")
    assert_rc(login(site, rhost=HOST_B), PAM_SUCCESS)
    assert_rc(challenge(site, DEFAULT_PIN, rhost=HOST_B), PAM_AUTH_ERR)
    assert_rc(challenge(site, DEFAULT_PIN + extract_code(code_mails(smtp)[-1]), rhost=HOST_B), PAM_SUCCESS)
    assert site.challenges(ALICE) == []
    assert "unanswered" not in purge(site)
    assert_rc(login(site, rhost=HOST_B), PAM_SUCCESS)
    assert alert_mails(smtp) == []


def test_unanswered_is_off_by_default_and_stores_no_host(site, smtp, alice):
    assert_rc(challenge(site, DEFAULT_PIN, rhost=HOST_B), PAM_AUTH_ERR)
    assert HOST_B.encode().hex() not in site.record_path(ALICE).read_text()
    site.expire_challenges(ALICE)
    assert "unanswered" not in purge(site)
    assert alert_mails(smtp) == []
