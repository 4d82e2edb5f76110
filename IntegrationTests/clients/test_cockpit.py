"""Cockpit (cockpit-ws --no-tls on loopback) in headless Chromium, with the repo's
pam.d-examples/cockpit for the login and pam.d-examples/sudo for "Turn on administrative
access" (which runs `sudo -k -A cockpit-bridge --privileged`: its stdout is Cockpit's
protocol, so nothing of the module's may reach it).

Each step's screenshot is kept under $EMAILOTP_ARTIFACTS (default tmp/artifacts in the
repository, ignored by git) /cockpit/TEST/; docs/images/ holds copies of representative ones
for docs/clients.md.
"""

import os
import re
import shutil

import pytest

from clientsupport import PIN, example_service, with_system_security_files
from cockpit import Browser, CockpitWS
from lib.mail import extract_code

ARTIFACTS = os.environ.get("EMAILOTP_ARTIFACTS") or os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "tmp", "artifacts"))
UNIX_PASSWORD = "Pw-unix-Cockpit-1"
MASKED = re.compile(r"\w\*\*\*@\w\*+\.org")


@pytest.fixture
def cockpit(site, staged, pam_dir, namespace, tmp_path, accounts, request):
    """(cockpit-ws, its namespace, the Unix user, the artifacts directory)"""
    user = accounts.user(password=UNIX_PASSWORD)
    site.enroll(user, user + "@example.org", pin=PIN)
    with_system_security_files(site)
    sudoers = tmp_path / "sudoers"
    sudoers.write_text("Defaults env_reset\nDefaults lecture=never\nroot ALL=(ALL:ALL) ALL\n"
                       "%s ALL=(ALL:ALL) ALL\n" % user)
    os.chmod(sudoers, 0o440)
    ws = CockpitWS(tmp_path / "cockpit")
    ns = namespace(pam_dir(cockpit=example_service("cockpit", staged), sudo=example_service("sudo", staged)),
                   binds=[(ws.etc, "/etc/cockpit"), (sudoers, "/etc/sudoers")])
    ws.start(ns)
    artifacts = os.path.join(ARTIFACTS, "cockpit", request.node.name)
    shutil.rmtree(artifacts, ignore_errors=True)
    yield ws, ns, user, artifacts
    print("\n--- cockpit-ws ---\n" + ws.log_text())


def code_step(b, smtp, mails_before):
    """Waits for the code field after the PIN; returns (what the page says, the mailed code)."""
    b.visible("#conversation-input")
    said = b.text("#conversation-message") + " " + b.text("#conversation-prompt")
    assert smtp.count() == mails_before + 1
    return said, extract_code(smtp.last())


def log_in(b, ws, smtp, user, shots=True, wrong_first=False):
    b.open(ws.url)
    b.visible("#login-user-input")
    b.type("#login-user-input", user)
    b.type("#login-password-input", PIN)
    if shots:
        b.shot("01-login-pin")
    b.find("#login-button")[0].click()
    said, code = code_step(b, smtp, 0)
    assert MASKED.search(said), "the page does not say where the code went: %r" % said
    if shots:
        b.shot("02-code-prompt")
    if wrong_first:
        b.type("#conversation-input", "".join(str((int(c) + 1) % 10) for c in code))
        b.find("#login-button")[0].click()
        b.wait(lambda d: "1 try left" in b.text("body") or "2 tries left" in b.text("body"))
        b.visible("#conversation-input")
        assert smtp.count() == 1, "a wrong code mailed a new one"
        b.shot("03-wrong-code-asks-again")
    b.type("#conversation-input", code)
    b.find("#login-button")[0].click()
    b.wait(lambda d: d.current_url.rstrip("/").endswith("/system") and d.title.startswith("Overview"))
    b.visible("#host-toggle")
    if shots:
        b.shot("04-overview")


def test_pin_then_mailed_code_reaches_the_overview_and_a_wrong_code_asks_again(cockpit, site, smtp):
    ws, ns, user, artifacts = cockpit
    with Browser(artifacts) as b:
        log_in(b, ws, smtp, user, wrong_first=True)
    assert "granted (transaction" in ns.log_text()
    assert site.read_record(user)["fail_count"] == "0"


def test_administrative_access_through_sudo_with_password_then_code(cockpit, site, smtp):
    ws, ns, user, artifacts = cockpit
    with Browser(artifacts) as b:
        log_in(b, ws, smtp, user, shots=False)
        limited = [x for x in b.find("button") if x.text == "Limited access"]
        assert limited, "no 'Limited access' switch in the top bar"
        limited[0].click()
        b.type("#switch-to-admin-access-password", UNIX_PASSWORD)
        b.shot("05-admin-password")
        authenticate(b)
        # sudo's next prompt is the module's: it names the address (there is no other message).
        b.wait(lambda d: smtp.count() == 2 and MASKED.search(b.text(".pf-c-modal-box"))
               or "Problem becoming administrator" in b.text(".pf-c-modal-box"))
        shown = b.text(".pf-c-modal-box")
        b.shot("06-admin-code-prompt")
        assert "Problem becoming administrator" not in shown, shown
        assert MASKED.search(shown), shown
        field = b.visible("#switch-to-admin-access-password")
        field.clear()
        field.send_keys(extract_code(smtp.last()))
        authenticate(b)
        b.wait(lambda d: any(x.text == "Administrative access" for x in b.find("button"))
               or "Problem becoming administrator" in b.text(".pf-c-modal-box"))
        b.shot("07-administrative-access")
        assert "Problem becoming administrator" not in b.text(".pf-c-modal-box")
    assert "incorrect protocol" not in ws.log_text()
    assert smtp.count() == 2


def authenticate(b):
    buttons = [x for x in b.find(".pf-c-modal-box button") if x.text == "Authenticate"]
    assert buttons, "no Authenticate button in the dialog"
    buttons[0].click()
