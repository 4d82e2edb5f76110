"""The emailotp admin command against a private store and config."""

import json
import os
import re
import time

import pytest

from lib.env import ALICE, ALICE_EMAIL
from lib.env import DEFAULT_PIN, TestSite
from lib.flows import wrong_code
from lib.mail import extract_code, extract_txid, code_mails

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def check(site, password, *extra):
    return site.cli("check", ALICE, *extra, input=password + "\n")


def assert_one_line_error(p):
    assert p.returncode != 0, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip("\n").splitlines()
    assert len(lines) == 1, "expected one error line on stderr, got:\n" + p.stderr
    assert lines[0].startswith("emailotp: error:"), p.stderr


# ---------------------------------------------------------------- check

def test_check_pin_sends_challenge_exit_3(site, smtp, alice):
    p = check(site, DEFAULT_PIN)
    assert p.returncode == 3, (p.stdout, p.stderr)
    assert smtp.count() == 1
    txid = extract_txid(smtp.last())
    assert p.stdout.strip().splitlines() == [txid]
    assert p.stderr.strip()                                    # the message


def test_check_pin_plus_code_exit_0(site, smtp, alice):
    assert check(site, DEFAULT_PIN).returncode == 3
    code = extract_code(smtp.last())
    p = check(site, DEFAULT_PIN + code)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert site.challenges(ALICE) == []


def test_check_wrong_exit_1(site, smtp, alice):
    assert check(site, DEFAULT_PIN).returncode == 3
    code = extract_code(smtp.last())
    assert check(site, DEFAULT_PIN + wrong_code(code)).returncode == 1
    assert check(site, "wrong-pin").returncode == 1
    assert smtp.count() == 1


def test_check_unknown_user_exit_1(site, smtp, alice):
    p = site.cli("check", "mallory", input=DEFAULT_PIN + "\n")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert smtp.count() == 0


def test_check_transaction_id_with_code_alone(site, smtp, alice):
    p = check(site, DEFAULT_PIN)
    assert p.returncode == 3
    txid = p.stdout.strip()
    code = extract_code(smtp.last())
    p = site.cli("check", ALICE, "--transaction-id", txid, input=code + "\n")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert site.challenges(ALICE) == []


def test_check_transaction_id_of_another_challenge_exit_1(site, smtp, alice):
    site.write_config(concurrent_challenges="true")
    p1 = check(site, DEFAULT_PIN)
    code1 = extract_code(smtp.last())
    p2 = check(site, DEFAULT_PIN)
    code2 = extract_code(smtp.last())
    assert p1.returncode == 3 and p2.returncode == 3
    tx1, tx2 = p1.stdout.strip(), p2.stdout.strip()
    assert tx1 != tx2
    if code1 == code2:
        pytest.skip("equal codes by chance")
    p = site.cli("check", ALICE, "--transaction-id", tx2, input=code1 + "\n")
    assert p.returncode == 1, (p.stdout, p.stderr)
    p = site.cli("check", ALICE, "--transaction-id", tx1, input=code1 + "\n")
    assert p.returncode == 0, (p.stdout, p.stderr)


def test_check_transaction_id_unknown_exit_1(site, smtp, alice):
    assert check(site, DEFAULT_PIN).returncode == 3
    code = extract_code(smtp.last())
    p = site.cli("check", ALICE, "--transaction-id", "0" * 20, input=code + "\n")
    assert p.returncode == 1


def test_check_json(site, smtp, alice):
    p = check(site, DEFAULT_PIN, "--json")
    assert p.returncode == 3, (p.stdout, p.stderr)
    obj = json.loads(p.stdout)
    assert obj["status"] == "challenge"
    assert obj["transaction_id"] == extract_txid(smtp.last())
    assert isinstance(obj["message"], str) and obj["message"]
    assert ISO_Z.match(obj["valid_until"]), obj
    code = extract_code(smtp.last())
    p = check(site, DEFAULT_PIN + wrong_code(code), "--json")
    assert p.returncode == 1
    assert json.loads(p.stdout)["status"] == "denied"
    p = check(site, DEFAULT_PIN + code, "--json")
    assert p.returncode == 0
    assert json.loads(p.stdout)["status"] == "granted"


def test_check_mail_failure_exit_2(site, smtp, alice):
    from lib.smtp_capture import closed_port
    site.write_config(mail_port=closed_port())
    p = check(site, DEFAULT_PIN)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert site.challenges(ALICE) == []


# ---------------------------------------------------------------- admin

def test_enroll_creates_record(site, smtp):
    p = site.cli("enroll", ALICE, "--email", ALICE_EMAIL, "--pin-stdin", input=DEFAULT_PIN + "\n")
    assert p.returncode == 0, p.stderr
    path = site.record_path(ALICE)
    st = os.lstat(path)
    assert st.st_uid == 0 and (st.st_mode & 0o777) == 0o600
    rec = site.read_record(ALICE)
    assert rec["lines"][0] == "emailotp-token 2"
    assert rec["user"] == ALICE and rec["email"] == ALICE_EMAIL
    assert rec["state"] == "enabled" and rec["fail_count"] == "0"
    assert rec["pin"].startswith("$") and DEFAULT_PIN not in path.read_text()
    assert (os.lstat(site.store).st_mode & 0o777) == 0o700


def test_enroll_no_pin(site, smtp):
    site.enroll("bob", "bob@example.com", pin=None)
    assert site.read_record("bob")["pin"] == "-"
    p = site.cli("show", "bob", "--json", check=True)
    assert json.loads(p.stdout)["has_pin"] is False


def test_list(site, smtp, alice):
    site.enroll("bob", "bob@example.com")
    p = site.cli("list", check=True)
    lines = p.stdout.strip().splitlines()
    assert lines[0].split() == ["USER", "EMAIL", "STATE", "FAILS", "OPEN"]
    rows = {l.split()[0]: l.split() for l in lines[1:]}
    assert rows[ALICE] == [ALICE, ALICE_EMAIL, "enabled", "0", "0"]
    assert rows["bob"][1] == "bob@example.com"


def test_list_json(site, smtp, alice):
    p = site.cli("list", "--json", check=True)
    arr = json.loads(p.stdout)
    assert isinstance(arr, list) and len(arr) == 1
    obj = arr[0]
    assert set(obj) >= {"user", "email", "state", "fail_count", "locked", "has_pin",
                        "open_challenges"}
    assert obj["user"] == ALICE and obj["email"] == ALICE_EMAIL
    assert obj["state"] == "enabled" and obj["fail_count"] == 0
    assert obj["locked"] is False and obj["has_pin"] is True and obj["open_challenges"] == 0


def test_show_json_with_challenge(site, smtp, alice):
    assert check(site, DEFAULT_PIN).returncode == 3
    txid = extract_txid(smtp.last())
    p = site.cli("show", ALICE, "--json", check=True)
    obj = json.loads(p.stdout)
    assert obj["user"] == ALICE and obj["open_challenges"] == 1
    (ch,) = obj["challenges"]
    assert ch["transaction_id"] == txid
    assert set(ch) >= {"transaction_id", "created", "expires", "tries_left"}
    code = extract_code(smtp.last())
    assert code not in p.stdout
    p = site.cli("show", ALICE, check=True)
    assert ALICE_EMAIL in p.stdout


def test_set_email(site, smtp, alice):
    site.cli("set-email", ALICE, "new@example.org", check=True)
    assert site.read_record(ALICE)["email"] == "new@example.org"
    assert check(site, DEFAULT_PIN).returncode == 3
    assert smtp.envelopes()[-1]["rcpt_tos"] == ["new@example.org"]


def test_set_pin(site, smtp, alice):
    site.cli("set-pin", ALICE, "--pin-stdin", input="new-PIN-9876\n", check=True)
    assert check(site, DEFAULT_PIN).returncode == 1
    assert smtp.count() == 0
    assert check(site, "new-PIN-9876").returncode == 3


def test_disable_enable(site, smtp, alice):
    site.cli("disable", ALICE, check=True)
    assert site.read_record(ALICE)["state"] == "disabled"
    assert check(site, DEFAULT_PIN).returncode == 1
    assert smtp.count() == 0
    site.cli("enable", ALICE, check=True)
    assert site.read_record(ALICE)["state"] == "enabled"
    assert check(site, DEFAULT_PIN).returncode == 3


def test_reset_clears_fail_count_and_lock(site, smtp, alice):
    site.write_config(max_fail=2, unlock_time=0)
    assert check(site, "wrong-pin").returncode == 1
    assert check(site, "wrong-pin").returncode == 1
    rec = site.read_record(ALICE)
    assert rec["fail_count"] == "2" and rec["locked_at"] != "0"
    obj = json.loads(site.cli("show", ALICE, "--json", check=True).stdout)
    assert obj["locked"] is True
    assert check(site, DEFAULT_PIN).returncode == 1          # locked
    assert code_mails(smtp) == []                            # (the lockout alert went out)
    site.cli("reset", ALICE, check=True)
    rec = site.read_record(ALICE)
    assert rec["fail_count"] == "0" and rec["locked_at"] == "0"
    assert check(site, DEFAULT_PIN).returncode == 3


def test_show_and_list_count_a_lock_past_unlock_time_as_gone(site, smtp, alice):
    # The module's clock cannot be moved: move the lock into the past instead.
    site.write_config(max_fail=1, unlock_time=900)
    assert check(site, "wrong-pin").returncode == 1
    assert json.loads(site.cli("show", ALICE, "--json", check=True).stdout)["locked"] is True
    path = site.record_path(ALICE)
    lines = [("locked_at %d" % (int(time.time()) - 901)) if l.startswith("locked_at ") else l
             for l in path.read_text().splitlines()]
    site.write_file(path, "\n".join(lines) + "\n", 0o600)
    before = path.read_bytes()
    assert json.loads(site.cli("show", ALICE, "--json", check=True).stdout)["locked"] is False
    listed = json.loads(site.cli("list", "--json", check=True).stdout)
    assert [u["locked"] for u in listed if u["user"] == ALICE] == [False]
    assert path.read_bytes() == before, "show and list write nothing"
    assert check(site, DEFAULT_PIN).returncode == 3, "the module unlocks it too"


def test_delete(site, smtp, alice):
    site.cli("delete", ALICE, check=True)
    assert not site.record_path(ALICE).exists()
    p = site.cli("show", ALICE)
    assert p.returncode != 0
    assert json.loads(site.cli("list", "--json", check=True).stdout) == []


def test_challenges_listing(site, smtp, alice):
    site.enroll("bob", "bob@example.com")
    assert check(site, DEFAULT_PIN).returncode == 3
    txid = extract_txid(smtp.last())
    p = site.cli("challenges", check=True)
    lines = p.stdout.strip().splitlines()
    assert lines[0].split() == ["USER", "TRANSACTION_ID", "CREATED", "EXPIRES", "TRIES_LEFT"]
    rows = [l.split() for l in lines[1:]]
    assert [r[:2] for r in rows] == [[ALICE, txid]]
    assert extract_code(smtp.last()) not in p.stdout
    p = site.cli("challenges", "bob", check=True)
    assert len(p.stdout.strip().splitlines()) <= 1          # header only (or nothing)


def test_purge_drops_only_expired(site, smtp, alice):
    site.write_config(concurrent_challenges="true")
    assert check(site, DEFAULT_PIN).returncode == 3
    tx1 = extract_txid(smtp.last())
    assert check(site, DEFAULT_PIN).returncode == 3
    tx2 = extract_txid(smtp.last())
    site.expire_challenges(ALICE, tx1)
    site.cli("purge", check=True)
    assert [c["txid"] for c in site.challenges(ALICE)] == [tx2]


def test_config_check_ok(site, smtp):
    p = site.cli("config-check")
    assert p.returncode == 0, p.stderr
    assert "configuration OK: %s" % site.config in p.stdout


@pytest.mark.parametrize("keys", [
    {"otp_length": "4"},
    {"mail_tls": "sometimes"},
    {"bogus_key": "1"},
    {"mail_server": "192.0.2.1", "mail_user": "u", "mail_password": "p", "mail_tls": "none"},
])
def test_config_check_errors(site, smtp, keys):
    site.write_config(**keys)
    p = site.cli("config-check")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "configuration OK" not in p.stdout


def test_config_check_warns_about_plaintext_mail_to_unprivileged_port(site, smtp):
    # No AUTH at all: the code itself is the secret a local user on that port would read.
    assert smtp.port >= 1024
    p = site.cli("config-check")
    assert p.returncode == 0, p.stderr
    assert "warning: mail goes unencrypted to 127.0.0.1:%d" % smtp.port in p.stdout
    site.write_config(mail_port=25)
    p = site.cli("config-check")
    assert p.returncode == 0, p.stderr
    assert "warning" not in p.stdout


def test_config_check_bad_permissions(site, smtp):
    os.chmod(site.config, 0o666)
    p = site.cli("config-check")
    assert p.returncode == 1, (p.stdout, p.stderr)


def _enroll_verify(site, smtp, user, email, answer_code):
    import subprocess
    p = subprocess.Popen(site.cli_argv("enroll", user, "--email", email, "--pin-stdin",
                                       "--verify"),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write((DEFAULT_PIN + "\n").encode())
    p.stdin.flush()
    err = b""
    while not err.endswith(b"Code: "):       # the command asks for the code once mailed
        c = p.stderr.read(1)
        if not c:
            break
        err += c
    if err.endswith(b"Code: "):
        code = extract_code(smtp.last())
        p.stdin.write((answer_code(code) + "\n").encode())
        p.stdin.flush()
    out, rest = p.communicate(timeout=60)
    return p.returncode, out.decode(), (err + rest).decode()


def test_enroll_verify(site, smtp):
    rc, out, err = _enroll_verify(site, smtp, "bob", "bob@example.com", lambda c: c)
    assert rc == 0, err
    assert smtp.envelopes()[-1]["rcpt_tos"] == ["bob@example.com"]
    assert site.read_record("bob")["email"] == "bob@example.com"


def test_enroll_verify_wrong_code_enrols_nothing(site, smtp):
    before = site.snapshot()
    rc, out, err = _enroll_verify(site, smtp, "bob", "bob@example.com", wrong_code)
    assert rc != 0
    assert smtp.count() == 1
    assert site.read_record("bob") is None
    # after the "Code: " prompt (no newline: the answer came from a pipe)
    assert err.split("Code: ", 1)[-1].strip().startswith("emailotp: error:"), err


def test_send_test(site, smtp):
    p = site.cli("send-test", "someone@example.net")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert smtp.count() == 1
    assert smtp.envelopes()[0]["rcpt_tos"] == ["someone@example.net"]


def test_send_test_failure_reported(site, smtp):
    from lib.smtp_capture import closed_port
    site.write_config(mail_port=closed_port())
    p = site.cli("send-test", "someone@example.net")
    assert p.returncode != 0
    assert p.stderr.strip()


# ---------------------------------------------------------------- bad input

BAD = [
    ("bad-email", ["enroll", "bob", "--email", "not-an-address", "--pin-stdin"], DEFAULT_PIN + "\n"),
    ("email-crlf", ["enroll", "bob", "--email", "bob@example.com\r\nBcc: x@evil.example",
                    "--pin-stdin"], DEFAULT_PIN + "\n"),
    ("user-newline", ["enroll", "bo\nb", "--email", "bob@example.com", "--pin-stdin"],
     DEFAULT_PIN + "\n"),
    ("pin-too-short", ["enroll", "bob", "--email", "bob@example.com", "--pin-stdin"], "1\n"),
    ("pin-empty", ["enroll", "bob", "--email", "bob@example.com", "--pin-stdin"], "\n"),
    ("show-unknown", ["show", "nosuchuser"], None),
    ("set-email-bad", ["set-email", ALICE, "nope"], None),
    ("set-email-unknown", ["set-email", "nosuchuser", "x@example.com"], None),
    ("set-pin-short", ["set-pin", ALICE, "--pin-stdin"], "1\n"),
    ("disable-unknown", ["disable", "nosuchuser"], None),
    ("delete-unknown", ["delete", "nosuchuser"], None),
    ("enroll-existing", ["enroll", ALICE, "--email", "x@example.com", "--pin-stdin"],
     DEFAULT_PIN + "\n"),
]


@pytest.mark.parametrize("name,args,stdin", BAD, ids=[b[0] for b in BAD])
def test_bad_input_one_line_error_store_unchanged(site, smtp, alice, name, args, stdin):
    before = site.snapshot()
    p = site.cli(*args, input=stdin if stdin is not None else "")
    assert_one_line_error(p)
    assert site.snapshot() == before
    assert smtp.count() == 0


def test_missing_config_named_is_error(site, smtp):
    import subprocess
    from lib.env import EMAILOTP
    r = subprocess.run([EMAILOTP, "list", "--config", str(site.dir / "missing.conf"), "--store",
                        str(site.store)], capture_output=True, text=True)
    assert_one_line_error(r)


def test_usage_error_exit_64(site, smtp):
    p = site.cli("no-such-subcommand")
    assert p.returncode == 64, (p.returncode, p.stderr)


def test_global_options_before_the_verb(site, smtp, alice):
    """emailotp(8) calls --config/--store global options: `emailotp --config C --store S
    list` (the form docs/DESIGN and the team brief use) must work too."""
    import subprocess
    from lib.env import EMAILOTP
    p = subprocess.run([EMAILOTP, "--config", str(site.config), "--store", str(site.store),
                        "list"], capture_output=True, text=True)
    assert p.returncode == 0, (p.returncode, p.stderr)
    assert ALICE in p.stdout
