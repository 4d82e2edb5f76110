"""vsftpd 3.0 with the repo's pam.d-examples/vsftpd (challenge mode): an FTP client sends one
password per connection and shows only the server's reply code."""

import pytest

from clientsupport import PIN, example_service, with_system_security_files
from lib.mail import extract_code
from servers import Vsftpd

SERVICE = "eoc-ftp"


@pytest.fixture
def ftp(site, staged, pam_dir, namespace, tmp_path, accounts):
    """(vsftpd, its namespace, the Unix user with a token)"""
    user = accounts.user(password="Pw-unix-ftp-1")
    site.enroll(user, user + "@example.org", pin=PIN)
    site.write_config(auth_cache=600)
    with_system_security_files(site)
    ns = namespace(pam_dir(**{SERVICE: example_service("vsftpd", staged, mode="challenge")}))
    return Vsftpd(tmp_path / "vsftpd", SERVICE).start(ns), ns, user


def test_pin_is_refused_with_a_mail_pin_and_code_logs_in_and_the_next_connection_is_cached(ftp, site, smtp):
    server, ns, user = ftp
    ok, reply = server.login(user, PIN)
    assert not ok and reply.startswith("530"), reply
    assert smtp.count() == 1
    password = PIN + extract_code(smtp.last())
    ok, reply = server.login(user, password)
    assert ok and reply.startswith("230"), reply
    ok, reply = server.login(user, password)
    assert ok and reply.startswith("230"), reply
    assert "granted from auth_cache" in ns.log_text()
    assert smtp.count() == 1
    assert site.read_record(user)["fail_count"] == "0"


def test_a_lower_auth_cache_ends_the_grants_already_made(ftp, site, smtp):
    server, ns, user = ftp
    assert not server.login(user, PIN)[0]
    password = PIN + extract_code(smtp.last())
    assert server.login(user, password)[0]
    granted_ago(site, user, 64)               # made 64 s ago under auth_cache = 600
    assert server.login(user, password)[0]
    site.write_config(auth_cache=5)
    ok, reply = server.login(user, password)
    assert not ok and reply.startswith("530"), reply
    assert ns.log_text().count("granted from auth_cache") == 1


def granted_ago(site, user, seconds):
    """Moves the grant times of the user's cached grants `seconds` into the past, their expiry
    kept (the module's clock cannot be moved)."""
    import time
    path = site.record_path(user)
    lines = path.read_text().splitlines()
    for index, line in enumerate(lines):
        parts = line.split(" ")
        if parts[0] == "auth_cache":
            parts[2] = str(int(time.time()) - seconds)
            lines[index] = " ".join(parts)
    site.write_file(path, "\n".join(lines) + "\n", 0o600)
