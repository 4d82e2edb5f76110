"""SMTP specifics: implicit TLS, certificate checks, AUTH, message format,
header injection."""

import email.utils
import os

import pytest

from lib.env import ALICE, ALICE_EMAIL
from lib.env import DEFAULT_PIN, TestSite
from lib.flows import CodeAnswerer
from lib.mail import extract_code, extract_txid, html_body, text_body
from lib.pamdriver import (PAM_SUCCESS, PAM_AUTHINFO_UNAVAIL, PAM_USER_UNKNOWN, PAM_AUTH_ERR,
                           PAM_SERVICE_ERR)
from lib.smtp_capture import SMTPCapture


def assert_rc(res, rc):
    assert res.rc == rc, res.describe()


def make_site(tmp_path, smtp, **keys):
    keys.setdefault("resend_interval", 0)
    site = TestSite(tmp_path, smtp=smtp, keys=keys)
    site.enroll(ALICE, ALICE_EMAIL)
    return site


def login(site, **kw):
    return site.authenticate(ALICE, CodeAnswerer(site.smtp, **kw))


def test_implicit_tls(product, tmp_path):
    with SMTPCapture(tmp_path / "mail", tls="implicit") as smtp:
        site = make_site(tmp_path, smtp, mail_tls="tls", mail_ca_file=smtp.ca_file)
        assert_rc(login(site), PAM_SUCCESS)
        assert smtp.count() == 1
        assert smtp.envelopes()[0]["tls"] is True


def test_implicit_tls_with_auth(product, tmp_path):
    with SMTPCapture(tmp_path / "mail", tls="implicit", auth=("mailer", "pw-465")) as smtp:
        site = make_site(tmp_path, smtp, mail_tls="tls", mail_ca_file=smtp.ca_file,
                         mail_user="mailer", mail_password="pw-465")
        assert_rc(login(site), PAM_SUCCESS)
        assert [(u, ok) for _, u, ok in smtp.auth_log] == [("mailer", True)]


def test_implicit_tls_by_host_name(product, tmp_path):
    with SMTPCapture(tmp_path / "mail", tls="implicit") as smtp:
        site = make_site(tmp_path, smtp, mail_tls="tls", mail_ca_file=smtp.ca_file,
                         mail_server="localhost")
        assert_rc(login(site), PAM_SUCCESS)


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_certificate_for_wrong_name_refused(product, tmp_path, tls):
    with SMTPCapture(tmp_path / "mail", tls=tls, cert_names=("wrong.example",)) as smtp:
        site = make_site(tmp_path, smtp, mail_tls="tls" if tls == "implicit" else "starttls",
                         mail_ca_file=smtp.ca_file, mail_timeout=5)
        res = login(site)
        assert_rc(res, PAM_AUTHINFO_UNAVAIL)
        assert smtp.count() == 0
        assert site.challenges(ALICE) == []


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_untrusted_certificate_refused(product, tmp_path, tls):
    """Without mail_ca_file the system bundle does not trust the test CA."""
    with SMTPCapture(tmp_path / "mail", tls=tls) as smtp:
        site = make_site(tmp_path, smtp, mail_tls="tls" if tls == "implicit" else "starttls",
                         mail_timeout=5)
        res = login(site)
        assert_rc(res, PAM_AUTHINFO_UNAVAIL)
        assert smtp.count() == 0


def test_smtp_auth_wrong_password(product, tmp_path):
    with SMTPCapture(tmp_path / "mail", tls="starttls", auth=("mailer", "right"),
                     require_starttls=True) as smtp:
        site = make_site(tmp_path, smtp, mail_tls="starttls", mail_ca_file=smtp.ca_file,
                         mail_user="mailer", mail_password="wrong")
        res = login(site)
        assert_rc(res, PAM_AUTHINFO_UNAVAIL)
        assert smtp.count() == 0
        assert smtp.auth_log and not any(ok for _, _, ok in smtp.auth_log)
        assert site.challenges(ALICE) == []


def test_mail_password_file(product, tmp_path):
    with SMTPCapture(tmp_path / "mail", tls="starttls", auth=("mailer", "from-file"),
                     require_starttls=True) as smtp:
        pwfile = TestSite.write_file(tmp_path / "mail-password", "from-file\n", 0o600)
        site = make_site(tmp_path, smtp, mail_tls="starttls", mail_ca_file=smtp.ca_file,
                         mail_user="mailer", mail_password_file=str(pwfile))
        assert_rc(login(site), PAM_SUCCESS)
        assert [(u, ok) for _, u, ok in smtp.auth_log] == [("mailer", True)]


def test_mail_password_file_readable_by_others_refused(product, tmp_path):
    with SMTPCapture(tmp_path / "mail", tls="starttls", auth=("mailer", "from-file"),
                     require_starttls=True) as smtp:
        site = make_site(tmp_path, smtp, mail_tls="starttls", mail_ca_file=smtp.ca_file)
        pwfile = TestSite.write_file(tmp_path / "mail-password", "from-file\n", 0o644)
        site.write_config(mail_user="mailer", mail_password_file=str(pwfile))
        res = login(site)
        assert_rc(res, PAM_SERVICE_ERR)
        assert smtp.count() == 0


@pytest.mark.parametrize("reject", ["rcpt", "data"])
def test_server_refusing_the_mail(product, tmp_path, reject):
    with SMTPCapture(tmp_path / "mail", reject=reject) as smtp:
        site = make_site(tmp_path, smtp)
        res = login(site)
        assert_rc(res, PAM_AUTHINFO_UNAVAIL)
        assert site.challenges(ALICE) == []


def test_message_format(site, smtp, alice):
    assert_rc(login(site), PAM_SUCCESS)
    raw = smtp.raw_messages()[0]
    head, _, _ = raw.partition(b"\r\n\r\n")
    if not _:
        head, _, _ = raw.partition(b"\n\n")
    assert all(b < 0x80 for b in head), "raw 8-bit bytes in the header"
    msg = smtp.last()
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(("plain",))
    assert plain.get_content_charset() == "utf-8"
    assert plain["Content-Transfer-Encoding"].lower() == "quoted-printable"
    assert msg.get_body(("html",)) is None                 # no html template configured
    body = text_body(msg)
    code = extract_code(msg)
    txid = extract_txid(msg)
    assert "Hello alice," in body
    assert "Transaction id: %s" % txid in body
    assert "valid for 5 minutes" in body
    assert smtp.envelopes()[0]["mail_from"] == site.keys["mail_sender"]
    assert code not in str(msg["Subject"])


def test_non_ascii_subject_is_rfc2047(site, smtp, alice):
    site.write_config(mail_subject="Ihr Code für {service} – {user}")
    assert_rc(login(site), PAM_SUCCESS)
    raw = smtp.raw_messages()[0]
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert all(b < 0x80 for b in head)
    assert b"=?" in head
    assert str(smtp.last()["Subject"]) == "Ihr Code für emailotp-test – alice"


def test_html_template(site, smtp, alice, tmp_path):
    tpl = TestSite.write_file(tmp_path / "mail.html",
                              "<p>Code for {user}: <b>{otp}</b> ({transaction_id})</p>\n", 0o644)
    site.write_config(mail_html_template=str(tpl))
    assert_rc(login(site), PAM_SUCCESS)
    msg = smtp.last()
    html = html_body(msg)
    assert html is not None
    assert "<b>%s</b>" % extract_code(msg) in html
    assert extract_txid(msg) in html


def test_header_injection_through_rhost(site, smtp, alice):
    site.write_config(mail_subject="Code for {user} from {rhost}")
    evil = "evil.example\r\nBcc: victim@evil.example\r\nX-Injected: yes"
    res = site.authenticate(ALICE, CodeAnswerer(smtp), rhost=evil)
    assert res.rc in (PAM_SUCCESS, PAM_AUTHINFO_UNAVAIL, PAM_AUTH_ERR), res.describe()
    for raw, env in zip(smtp.raw_messages(), smtp.envelopes()):
        assert env["rcpt_tos"] == [ALICE_EMAIL]
        msg = smtp.last()
        assert msg["Bcc"] is None and msg["X-Injected"] is None
        head = raw.split(b"\r\n\r\n", 1)[0]
        assert b"\nBcc:" not in head and b"\nX-Injected:" not in head


@pytest.mark.parametrize("user", ["eve\r\nBcc: victim@evil.example",
                                  "eve\nX-Injected: yes", "eve\rSubject: x"])
def test_header_injection_through_user_name(site, smtp, alice, user):
    res = site.authenticate(user, CodeAnswerer(smtp))
    assert res.rc != PAM_SUCCESS, res.describe()
    assert smtp.count() == 0
    # the command refuses to enroll such a name
    p = site.cli("enroll", user, "--email", "eve@example.com", "--pin-stdin",
                 input=DEFAULT_PIN + "\n")
    assert p.returncode != 0


@pytest.mark.parametrize("addr", ["eve@example.com\r\nBcc: victim@evil.example",
                                  "eve@example.com\nX-Injected: yes",
                                  "eve@example.com>\r\nRCPT TO:<victim@evil.example"])
def test_header_injection_through_address(site, smtp, addr):
    p = site.cli("enroll", "eve", "--email", addr, "--pin-stdin", input=DEFAULT_PIN + "\n")
    if p.returncode == 0:      # accepted?  then it must not reach the headers or envelope
        res = site.authenticate("eve", CodeAnswerer(smtp))
        for raw, env in zip(smtp.raw_messages(), smtp.envelopes()):
            assert "victim@evil.example" not in " ".join(env["rcpt_tos"])
            head = raw.split(b"\r\n\r\n", 1)[0]
            assert b"\nBcc:" not in head and b"\nX-Injected:" not in head
        pytest.fail("an address with CR/LF was enrolled")
    assert smtp.count() == 0
