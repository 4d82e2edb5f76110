"""FreeRADIUS 3.2 (rlm_pam) with the repo's pam.d-examples/radiusd: radiusd runs as freerad, so
the module goes through the setuid helper; radtest is the NAS. rlm_pam sets no PAM_RHOST and
refuses error messages."""

import pytest

from clientsupport import PIN, example_service, token_user
from lib.mail import extract_code
from servers import FreeRADIUS

SERVICE = "eoc-radius"


@pytest.fixture
def radius(site, staged, pam_dir, namespace, tmp_path):
    site.write_config(helper_group="freerad", auth_cache=600)
    ns = namespace(pam_dir(**{SERVICE: example_service("radiusd", staged, mode="challenge")}))
    server = FreeRADIUS(tmp_path / "radius", SERVICE).start(ns)
    yield server, ns
    print("\n--- radiusd -X ---\n" + open(server.log, errors="replace").read()[-6000:])


def test_pin_is_rejected_with_a_mail_then_pin_and_code_accepted_then_accepted_from_the_cache(radius, site, smtp):
    server, ns = radius
    user = token_user()
    site.enroll(user, user + "@example.org", pin=PIN)
    ok, out = server.radtest(user, PIN)
    assert not ok, out
    assert smtp.count() == 1
    password = PIN + extract_code(smtp.last())
    ok, out = server.radtest(user, password)
    assert ok, out
    ok, out = server.radtest(user, password)
    assert ok, out
    log = ns.log_text()
    assert "granted from auth_cache" in log and "via helper" in log, log
    assert smtp.count() == 1
    shown = site.cli("show", user, check=True).stdout
    assert "(no remote host: good from every client of the service)" in shown, shown


def test_a_wrong_code_is_a_plain_reject_without_an_error_level_conversation_line(radius, site, smtp):
    server, ns = radius
    user = token_user()
    site.enroll(user, user + "@example.org", pin=PIN)
    assert not server.radtest(user, PIN)[0]
    code = extract_code(smtp.last())
    wrong = "".join(str((int(c) + 1) % 10) for c in code)
    assert not server.radtest(user, PIN + wrong)[0]
    log = ns.log_text()
    assert "wrong code" in log and "2 tries left" in log, log
    errors = [line for line in log.splitlines() if line.startswith("<83>") or line.startswith("<11>")]
    assert not errors, errors
