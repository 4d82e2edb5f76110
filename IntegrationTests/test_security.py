"""The security properties through real libpam: the caller's environment cannot steer the
mail, try_first_pass is no PIN oracle, locked tokens answer like a wrong PIN, log fields are
quoted and escaped, non-UTF-8 and over-long user names are refused up front."""

import os
import shutil
import socket
import subprocess

import pexpect
import pytest

from lib.env import ALICE, ALICE_EMAIL, DEFAULT_PIN, TestSite, encode_user
from lib.flows import CodeAnswerer, PIN_PROMPT, OTP_PROMPT, ANY_OTP_PROMPT
from lib.mail import extract_code, code_mails
from lib.pamdriver import PAM_SUCCESS, PAM_AUTH_ERR, PAM_USER_UNKNOWN, PAM_IGNORE, PAM_CONV_ERR
from lib.pamdriver import call_module
from lib.smtp_capture import SMTPCapture


def assert_rc(res, rc):
    assert res.rc == rc, res.describe()


class ProxyTrap:
    """A listening socket posing as the attacker's proxy. The kernel completes a client's
    handshake into the backlog, so after the login returned, a non-blocking accept tells
    whether anything connected."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]

    def connections(self):
        n = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return n
            conn.close()
            n += 1

    def close(self):
        self.sock.close()


def hostile_environment(trap, bogus_ca):
    env = {name: trap.url for name in ("ALL_PROXY", "all_proxy", "smtp_proxy", "SMTP_PROXY", "smtps_proxy",
                                       "HTTPS_PROXY", "https_proxy", "http_proxy", "HTTP_PROXY")}
    env.update(NO_PROXY="example.invalid", no_proxy="example.invalid",
               SSL_CERT_FILE=bogus_ca, SSL_CERT_DIR=os.path.dirname(bogus_ca), CURL_CA_BUNDLE=bogus_ca)
    return env


@pytest.fixture
def trap():
    t = ProxyTrap()
    yield t
    t.close()


@pytest.fixture
def bogus_ca(tmp_path):
    path = tmp_path / "attacker-ca" / "ca.pem"
    path.parent.mkdir()
    path.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    return str(path)


# ---------------------------------------------------------------- 1. environment

@pytest.mark.parametrize("tls", [None, "starttls"])
def test_hostile_environment_does_not_steer_the_mail(product, tmp_path, trap, bogus_ca, monkeypatch, tls):
    with SMTPCapture(tmp_path / "mail", tls=tls) as smtp:
        keys = dict(resend_interval=0)
        if tls:
            keys.update(mail_tls="starttls", mail_ca_file=smtp.ca_file)
        site = TestSite(tmp_path, smtp=smtp, keys=keys)
        site.enroll(ALICE, ALICE_EMAIL)
        for name, value in hostile_environment(trap, bogus_ca).items():
            monkeypatch.setenv(name, value)
        res = site.authenticate(ALICE, CodeAnswerer(smtp))
        assert_rc(res, PAM_SUCCESS)
        assert smtp.count() == 1, "the mail reached the real server"
        assert trap.connections() == 0, "the module connected to the proxy from the environment"


def test_ca_from_the_environment_is_not_trusted(product, tmp_path, monkeypatch):
    # The server's certificate is signed by a CA that only the environment names.
    with SMTPCapture(tmp_path / "mail", tls="starttls") as smtp:
        site = TestSite(tmp_path, smtp=smtp, keys=dict(resend_interval=0, mail_tls="starttls", mail_timeout=5))
        site.enroll(ALICE, ALICE_EMAIL)
        for name in ("SSL_CERT_FILE", "CURL_CA_BUNDLE"):
            monkeypatch.setenv(name, smtp.ca_file)
        monkeypatch.setenv("SSL_CERT_DIR", os.path.dirname(smtp.ca_file))
        res = site.authenticate(ALICE, CodeAnswerer(smtp))
        assert res.rc != PAM_SUCCESS, res.describe()
        assert smtp.count() == 0


ATTACKER_OPENSSL_CONF = """openssl_conf = init
[init]
ssl_conf = ssl
[ssl]
system_default = tls
[tls]
MinProtocol = TLSv1
MaxProtocol = TLSv1
"""


def test_openssl_conf_from_the_environment_is_not_read(product, tmp_path, monkeypatch):
    """OPENSSL_CONF names a configuration that allows only TLS 1.0, which the server (and
    OpenSSL 3's default security level) refuses: read, it would break the STARTTLS handshake."""
    with SMTPCapture(tmp_path / "mail", tls="starttls") as smtp:
        conf = tmp_path / "attacker-openssl.cnf"
        conf.write_text(ATTACKER_OPENSSL_CONF)
        # Control: an OpenSSL client that does read the file cannot talk to this server.
        probe = ["openssl", "s_client", "-brief", "-starttls", "smtp", "-connect", "127.0.0.1:%d" % smtp.port,
                 "-CAfile", smtp.ca_file]
        env = dict(os.environ, OPENSSL_CONF=str(conf))
        bad = subprocess.run(probe, input="", capture_output=True, text=True, env=env, timeout=30)
        good = subprocess.run(probe, input="", capture_output=True, text=True, timeout=30)
        assert "Protocol version" in good.stderr + good.stdout, good
        assert "Protocol version" not in bad.stderr + bad.stdout, bad

        site = TestSite(tmp_path, smtp=smtp, keys=dict(resend_interval=0, mail_tls="starttls",
                                                       mail_ca_file=smtp.ca_file, mail_timeout=5))
        site.enroll(ALICE, ALICE_EMAIL)
        count_before = smtp.count()
        monkeypatch.setenv("OPENSSL_CONF", str(conf))
        res = site.authenticate(ALICE, CodeAnswerer(smtp))
        assert_rc(res, PAM_SUCCESS)
        assert smtp.count() == count_before + 1, "the mail went out over TLS despite the caller's OPENSSL_CONF"


def test_pamtester_with_hostile_environment(product, tmp_path, trap, bogus_ca, smtp):
    site = TestSite(tmp_path, smtp=smtp, keys=dict(resend_interval=0))
    site.enroll(ALICE, ALICE_EMAIL)
    pamd = tmp_path / "pam.d"
    shutil.copytree("/etc/pam.d", pamd, symlinks=True)
    (pamd / "emailotp-sec").write_text(site.stack())
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "dumb"}
    env.update(hostile_environment(trap, bogus_ca))
    child = pexpect.spawn("unshare", ["--mount", "--propagation", "private", "--", "/bin/sh", "-ec",
                                      'mount --bind "$1" /etc/pam.d; exec pamtester emailotp-sec "$2" authenticate',
                                      "sh", str(pamd), ALICE],
                          env=env, encoding="utf-8", timeout=60)
    try:
        child.expect_exact(PIN_PROMPT)
        child.sendline(DEFAULT_PIN)
        child.expect(ANY_OTP_PROMPT)   # pamtester sets no PAM_TTY
        assert trap.connections() == 0
        child.sendline(extract_code(smtp.last()))
        child.expect("successfully authenticated")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert smtp.count() == 1
    assert trap.connections() == 0


def test_sendmail_runs_with_a_fixed_minimal_environment(site, smtp, alice, trap, bogus_ca, monkeypatch, tmp_path):
    seen = tmp_path / "sendmail-env.json"
    fake = tmp_path / "sendmail"
    fake.write_text("#!/usr/bin/python3\nimport json, os, sys\nsys.stdin.buffer.read()\n"
                    "open(%r, 'w').write(json.dumps(dict(os.environ)))\n" % str(seen))
    fake.chmod(0o755)
    site.write_config(mail_transport="sendmail", sendmail_path=str(fake))
    for name, value in hostile_environment(trap, bogus_ca).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATH", str(tmp_path) + ":" + os.environ["PATH"])
    monkeypatch.setenv("LD_PRELOAD", "/nonexistent/evil.so")
    res = site.authenticate(ALICE, lambda style, text: DEFAULT_PIN if text == PIN_PROMPT else None)
    assert res.infos, res.describe()
    import json
    assert json.loads(seen.read_text()) == {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}


# ---------------------------------------------------------------- 2./3. oracles

def lock(site, user=ALICE):
    for _ in range(3):
        assert_rc(site.authenticate(user, CodeAnswerer(site.smtp, pin="wrong-pin")), PAM_AUTH_ERR)


@pytest.mark.parametrize("mode", ["interactive", "challenge"])
def test_try_first_pass_on_locked_token_is_no_pin_oracle(site, smtp, alice, mode):
    site.write_config(max_fail=3, unlock_time=0)
    lock(site)
    results = []
    for stacked in (DEFAULT_PIN, "not-the-pin"):
        res = site.authenticate(ALICE, lambda style, text: None, args="try_first_pass mode=%s" % mode,
                                authtok=stacked)
        results.append((res.rc, res.prompts, res.errors))
    assert results[0] == results[1], "the right stacked PIN must look like a wrong one"
    assert results[0][1] == [PIN_PROMPT]
    assert code_mails(smtp) == [], "no code is mailed to a locked token (the lockout alert may be)"


def test_try_first_pass_miss_without_right_pin_is_counted(site, smtp, alice):
    res = site.authenticate(ALICE, lambda style, text: None, args="try_first_pass", authtok="guess-1")
    assert_rc(res, PAM_CONV_ERR)
    assert res.prompts == [PIN_PROMPT]
    assert site.read_record(ALICE)["fail_count"] == "1"


def test_challenge_try_first_pass_wrong_stacked_password_prompts(site, smtp, alice):
    res = site.authenticate(ALICE, CodeAnswerer(smtp), args="mode=challenge try_first_pass",
                            authtok="unix-password")
    assert_rc(res, PAM_AUTH_ERR)
    assert res.prompts == [PIN_PROMPT], "a wrong stacked password leads to the prompt"
    assert smtp.count() == 1
    assert site.read_record(ALICE)["fail_count"] == "0"


def test_locked_token_answers_like_a_wrong_pin(site, smtp, alice):
    site.write_config(max_fail=3, unlock_time=0)
    wrong = site.authenticate(ALICE, CodeAnswerer(smtp, pin="wrong-pin"))
    lock(site)
    locked = site.authenticate(ALICE, CodeAnswerer(smtp))
    assert (locked.rc, locked.prompts, locked.errors, locked.infos) == \
        (wrong.rc, wrong.prompts, wrong.errors, wrong.infos)
    assert code_mails(smtp) == [], "no code is mailed to a locked token (the lockout alert may be)"


# ---------------------------------------------------------------- 4. log forging

def test_rhost_and_user_cannot_forge_log_lines(site, smtp, alice, syslog):
    forged_rhost = "10.0.0.7\nNov 27 20:55:00 vm sshd[999]: Accepted password for root"
    site.authenticate(ALICE, CodeAnswerer(smtp, pin="wrong-pin"), rhost=forged_rhost)
    site.authenticate("mallory\u202e rhost=203.0.113.9: granted", CodeAnswerer(smtp, pin="wrong-pin"))
    lines = [t for _, _, t in syslog.lines() if "pam_emailotp" in t]
    assert lines
    for text in lines:
        assert "\n" not in text and "\u202e" not in text, text
    assert any('rhost="10.0.0.7\\x0ANov 27 20:55:00 vm sshd[999]: Accepted password for root"' in t for t in lines)
    assert any('user="mallory\\u{202E} rhost=203.0.113.9: granted"' in t for t in lines)


# ---------------------------------------------------------------- 6./9. names

def test_non_utf8_user_name_is_refused(site, smtp):
    # `emailotp enroll` of a Latin-1 name once stored it as U+FFFD; every invalid byte mapped there.
    site.enroll("sa_caf\ufffd", ALICE_EMAIL)
    for raw in (b"sa_caf\xe8", b"sa_caf\xff"):
        res = site.authenticate(raw, CodeAnswerer(smtp))
        assert_rc(res, PAM_USER_UNKNOWN)
        assert res.prompts == []
    assert smtp.count() == 0


def test_non_utf8_user_name_is_refused_by_the_command(site, smtp):
    for verb in ("show", "enroll", "check"):
        args = [verb, os.fsdecode(b"sa_caf\xe8")]
        if verb == "enroll":
            args += ["--email", ALICE_EMAIL, "--no-pin"]
        p = site.cli(*args)
        assert p.returncode == 64, (verb, p.stdout, p.stderr)  # a usage error (emailotp(8))
        assert "not valid UTF-8" in p.stderr
    assert not os.path.exists(site.record_path("sa_caf\ufffd"))


@pytest.mark.parametrize("variant", ["SA_VICTIM", "sa_victim@EXAMPLE"])
def test_name_variant_under_nullok_meets_the_accounts_token(product, tmp_path, smtp, variant):
    """NSS maps the variant to the enrolled account (a test NSS module standing in for SSSD):
    under pam_permit + nullok the variant must still get the PIN prompt, not PAM_IGNORE."""
    libdir = tmp_path / "nsslib"
    libdir.mkdir()
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(libdir / "libnss_emailotptest.so.2"),
                    os.path.join(os.path.dirname(__file__), "nss", "nss_emailotptest.c")], check=True)
    nsswitch = tmp_path / "nsswitch.conf"
    nsswitch.write_text("".join(
        ("passwd: files emailotptest\n" if line.startswith("passwd:") else line + "\n")
        for line in open("/etc/nsswitch.conf").read().splitlines()))
    site = TestSite(tmp_path, smtp=smtp, keys=dict(resend_interval=0))
    site.enroll("sa_victim", ALICE_EMAIL)
    pamd = tmp_path / "pam.d"
    shutil.copytree("/etc/pam.d", pamd, symlinks=True)
    (pamd / "emailotp-sec").write_text("auth required pam_permit.so\n" + site.module_line("nullok") + "\n"
                                       "account required pam_permit.so\n")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "dumb", "LD_LIBRARY_PATH": str(libdir),
           "EMAILOTP_NSS_ACCOUNT": "sa_victim", "EMAILOTP_NSS_VARIANTS": "SA_VICTIM,sa_victim@EXAMPLE"}
    child = pexpect.spawn("unshare", ["--mount", "--propagation", "private", "--", "/bin/sh", "-ec",
                                      'mount --bind "$1" /etc/pam.d; mount --bind "$2" /etc/nsswitch.conf; '
                                      'exec pamtester emailotp-sec "$3" authenticate',
                                      "sh", str(pamd), str(nsswitch), variant],
                          env=env, encoding="utf-8", timeout=60)
    try:
        i = child.expect_exact([PIN_PROMPT, "successfully authenticated", pexpect.EOF])
        assert i == 0, "%s skipped the factor: %r" % (variant, child.before)
        child.sendline(DEFAULT_PIN)
        child.expect(ANY_OTP_PROMPT)   # pamtester sets no PAM_TTY
        child.sendline(extract_code(smtp.last()))
        child.expect("successfully authenticated")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert site.read_record("sa_victim")["fail_count"] == "0"


@pytest.mark.parametrize("mode", ["interactive", "challenge"])
def test_over_long_name_is_refused_before_any_prompt_without_files(site, smtp, mode):
    name = "%" * 81
    res = site.authenticate(name, CodeAnswerer(smtp), args="mode=%s" % mode)
    assert_rc(res, PAM_USER_UNKNOWN)
    assert res.prompts == []
    stray = [n for _, _, files in os.walk(site.store) for n in files if encode_user(name)[:20] in n]
    assert stray == []


def test_challenge_nullok_is_decided_before_the_prompt(site, smtp):
    res = call_module(site.module, "nobody-enrolled", "config=%s mode=challenge nullok" % site.config,
                      lambda s, t: DEFAULT_PIN)
    assert_rc(res, PAM_IGNORE)
    assert res.prompts == []
