"""OpenVPN 2.6 with openvpn-plugin-auth-pam: the client sends user name and
password once per connection and again at every renegotiation."""

import pytest

from clientsupport import PIN, example_service, token_user
from lib.mail import extract_code
from lib.smtp_capture import SMTPCapture
from servers import OpenVPN, read, wait_file

SERVICE = "eoc-openvpn"


@pytest.fixture
def vpn(site, staged, pam_dir, namespace, tmp_path):
    """start(...) -> (OpenVPN server, the SMTP capture it mails to), both inside
    one private network namespace."""
    started, captures = [], []

    def start(server_extra=(), client_extra=()):
        ns = namespace(pam_dir(**{SERVICE: example_service("openvpn", staged)}), net=True)
        smtp = SMTPCapture(tmp_path / "vpn-mail", prefix=ns.argv([])).start()
        captures.append(smtp)
        site.write_config(mail_port=smtp.port)
        server = OpenVPN(tmp_path / "openvpn", SERVICE, server_extra, client_extra)
        started.append(server)
        return server.start(ns), smtp
    yield start
    for smtp in captures:
        smtp.stop()
    for server in started:
        print("\n--- openvpn server log ---\n" + read(server.server_log))


@pytest.fixture
def user(site):
    name = token_user()
    site.enroll(name, name + "@example.org", pin=PIN)
    return name


def connected(server, user, password, timeout=60):
    proc, log = server.connect(user, password)
    done = wait_file(log, "Initialization Sequence Completed", timeout, proc)
    return proc, log, done


def test_pin_alone_is_auth_failed_and_mails_then_pin_and_code_connects(vpn, site, user):
    server, smtp = vpn(server_extra=["setenv deferred_auth_pam 1"])
    proc, log, done = connected(server, user, PIN)
    assert not done
    assert wait_file(log, "AUTH_FAILED", 60)
    proc.wait(30)
    assert smtp.count() == 1

    proc, log, done = connected(server, user, PIN + extract_code(smtp.last()))
    assert done, read(log)
    # The module's message reaches the server log at verb 4.
    assert "A code was sent to" in read(server.server_log)


@pytest.mark.parametrize("how", ["auth-gen-token", "auth_cache"])
def test_renegotiation_keeps_the_tunnel_up(vpn, site, user, how):
    if how == "auth_cache":
        site.write_config(auth_cache=600)
        server, smtp = vpn(server_extra=["reneg-sec 10"])
    else:
        server, smtp = vpn(server_extra=["reneg-sec 10", "auth-gen-token 0 120"])
    proc, log, done = connected(server, user, PIN)
    proc.wait(60)
    proc, log, done = connected(server, user, PIN + extract_code(smtp.last()))
    assert done, read(log)
    handshakes = read(log).count("Control Channel:")
    # The server starts a soft reset after reneg-sec; the client answers with a
    # new handshake, sending its password (or the token) again.
    assert wait_file(server.server_log, "soft reset", 60, proc), read(server.server_log)
    assert wait_until(lambda: read(log).count("Control Channel:") > handshakes, 60, proc), read(log)
    text = read(log)
    assert "AUTH_FAILED" not in text and "SIGUSR1" not in text and proc.poll() is None, text
    assert smtp.count() == 1


def wait_until(predicate, timeout, proc):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False
