"""Dovecot IMAP (dovecot-imapd) with passdb pam: a mail client sends the same
password on every connection and never shows PAM's messages."""

import json

import pytest

from clientsupport import PIN, example_service, token_user
from lib.mail import extract_code
from servers import Dovecot

SERVICE = "eoc-imap"


@pytest.fixture
def dovecot(site, staged, pam_dir, namespace, tmp_path):
    def start(mode="challenge", extra=""):
        ns = namespace(pam_dir(**{SERVICE: example_service("dovecot", staged, mode=mode)}))
        server = Dovecot(tmp_path / "dovecot", SERVICE, extra).start(ns)
        return server, ns
    return start


@pytest.fixture
def user(site):
    name = token_user()
    site.enroll(name, name + "@example.org", pin=PIN)
    return name


def test_pin_alone_is_refused_and_mails_a_code_then_pin_and_code_logs_in(dovecot, site, smtp, user):
    server, ns = dovecot()
    ok, text = server.login(user, PIN)
    assert not ok and "AUTHENTICATIONFAILED" in text
    assert smtp.count() == 1
    ok, text = server.login(user, PIN + extract_code(smtp.last()))
    assert ok, text
    assert smtp.count() == 1


def test_auth_cache_lets_the_clients_next_connections_in_until_it_expires(dovecot, site, smtp, user):
    site.write_config(auth_cache=600)
    server, ns = dovecot()
    assert not server.login(user, PIN)[0]
    password = PIN + extract_code(smtp.last())
    for connection in range(3):
        ok, text = server.login(user, password)
        assert ok, "connection %d: %s" % (connection + 1, text)
    assert smtp.count() == 1
    assert site.read_record(user)["fail_count"] == "0"
    # A wrong password never matches the cached one, and counts as usual.
    assert not server.login(user, PIN + "000000" if not password.endswith("000000") else PIN + "111111")[0]
    assert site.read_record(user)["fail_count"] == "0"   # no open challenge: not a guess at a code
    # Tested as two PINs (before the code, and the whole password): two failures.
    assert not server.login(user, "wrong" + password)[0]
    assert site.read_record(user)["fail_count"] == "2"

    expire_auth_cache(site, user)
    ok, text = server.login(user, password)
    assert not ok and "AUTHENTICATIONFAILED" in text


def test_show_lists_the_cached_grants_expiry_and_forget_drops_them(dovecot, site, smtp, user):
    site.write_config(auth_cache=600)
    server, ns = dovecot()
    assert not server.login(user, PIN)[0]
    password = PIN + extract_code(smtp.last())
    assert server.login(user, password)[0]
    shown = site.cli("show", user, check=True).stdout
    assert "auth_cache: 1 cached grant" in shown and "expires" in shown, shown
    as_json = json.loads(site.cli("show", user, "--json", check=True).stdout)
    assert len(as_json["auth_cache"]) == 1 and as_json["auth_cache"][0]["without_remote_host"] is False
    assert set(as_json["auth_cache"][0]) == {"granted", "expires", "without_remote_host"}
    grant_hash = site.read_record(user)["auth_cache"].split(" ")[0]
    assert grant_hash not in shown and password not in shown

    assert "1 cached grant (auth_cache)" in site.cli("forget", user, check=True).stdout
    ok, text = server.login(user, password)
    assert not ok and "AUTHENTICATIONFAILED" in text
    assert "auth_cache: 0 cached grants" in site.cli("show", user, check=True).stdout


def test_interactive_mode_through_dovecot_is_refused_without_counting_or_mailing_again(dovecot, site, smtp, user):
    site.write_config(resend_interval=30)
    server, ns = dovecot(mode="interactive")
    for attempt in range(3):
        ok, text = server.login(user, PIN)
        assert not ok, text
    assert smtp.count() <= 1
    assert site.read_record(user)["fail_count"] == "0"
    assert "needs mode=challenge" in ns.log_text()


def expire_auth_cache(site, user, ago=10):
    """Moves the user's cached grants into the past, as site.expire_challenges
    does for challenges (the module's clock cannot be moved)."""
    import os
    import time
    path = site.record_path(user)
    lines = path.read_text().splitlines()
    out, changed = [], 0
    for line in lines:
        parts = line.split(" ")
        if parts[0] == "auth_cache" and len(parts) == 4:
            parts[3] = str(int(time.time()) - ago)
            line = " ".join(parts)
            changed += 1
        out.append(line)
    assert changed, "no auth_cache entry in\n" + "\n".join(lines)
    site.write_file(path, "\n".join(out) + "\n", 0o600)
    assert os.stat(path).st_mode & 0o777 == 0o600
