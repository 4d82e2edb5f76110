"""nginx with auth_pam (libnginx-mod-http-auth-pam): the browser resends its
Basic credentials on every request, and a request for / authenticates twice
(index redirect).  Workers run as www-data, so the module goes through the
setuid helper; www-data is put into helper_group for the test only."""

import pytest

from clientsupport import PIN, example_service, token_user
from lib.mail import extract_code
from servers import Nginx, read

SERVICE = "eoc-nginx"


@pytest.fixture
def nginx(site, staged, pam_dir, namespace, accounts, tmp_path):
    group = accounts.group()
    accounts.add_member("www-data", group)   # before the start: workers take their groups then
    site.write_config(helper_group=group, auth_cache=600)
    ns = namespace(pam_dir(**{SERVICE: example_service("nginx", staged)}))
    server = Nginx(tmp_path / "nginx", SERVICE).start(ns)
    yield server, ns
    print("\n--- nginx error log ---\n" + read(server.error_log))


def test_basic_credentials_pin_and_code_get_200_and_keep_getting_it(nginx, site, smtp):
    server, ns = nginx
    user = token_user()
    site.enroll(user, user + "@example.org", pin=PIN)

    status, _ = server.get(user, PIN)
    assert status == 401
    assert smtp.count() == 1
    # The module's message reaches only nginx's error log, at "info".
    assert "A code was sent to" in read(server.error_log)

    password = PIN + extract_code(smtp.last())
    for request in range(3):
        status, body = server.get(user, password)
        assert status == 200, "request %d: %s" % (request + 1, body)
        assert "eoc-secret-page" in body
    assert smtp.count() == 1
    assert "via helper, caller uid 33" in ns.log_text()


def test_wrong_basic_credentials_get_401_and_count(nginx, site, smtp):
    server, ns = nginx
    user = token_user()
    site.enroll(user, user + "@example.org", pin=PIN)
    status, _ = server.get(user, "not-the-" + PIN)
    assert status == 401
    assert smtp.count() == 0
    assert site.read_record(user)["fail_count"] in ("1", "2")   # / authenticates once or twice
