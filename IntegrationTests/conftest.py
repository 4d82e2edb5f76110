"""Fixtures for the pam_emailotp integration tests.

The tests drive the INSTALLED module (<dir of pam_unix.so>/pam_emailotp.so)
and /usr/local/sbin/emailotp through real libpam (lib/pamdriver.py) and a real
loopback SMTP server (lib/smtp_capture.py).  Run as root:

    cd IntegrationTests && /usr/bin/python3 -m pytest -q -p no:cacheprovider

Set EMAILOTP_KEEP_TMP=1 to keep each test's temporary directory.
"""

import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from lib.env import TestSite, installed, DEFAULT_PIN, ALICE, ALICE_EMAIL  # noqa: E402
from lib.smtp_capture import SMTPCapture  # noqa: E402



@pytest.fixture
def tmp_path():
    """A private temporary directory, removed after the test (pytest's own
    tmp_path keeps the last runs; these tests must leave nothing behind)."""
    d = tempfile.mkdtemp(prefix="emailotp-it-")
    os.chmod(d, 0o755)
    import pathlib
    yield pathlib.Path(d)
    if not os.environ.get("EMAILOTP_KEEP_TMP"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def product():
    """The one root/installed check of every suite (services/ and clients/ use it too)."""
    if os.geteuid() != 0:
        pytest.fail("the integration tests must run as root")
    ok, why = installed()
    if not ok:
        pytest.fail("pam_emailotp is not installed (%s): run ./install.sh first" % why)


@pytest.fixture
def smtp(tmp_path):
    with SMTPCapture(tmp_path / "mail") as s:
        yield s


@pytest.fixture
def site(product, tmp_path, smtp):
    """A private store and config pointing at the `smtp` capture server.
    resend_interval=0 and a high mail rate limit so that tests can run many
    transactions for one user; tests that exercise those set them."""
    s = TestSite(tmp_path, smtp=smtp, keys={"resend_interval": 0,
                                            "max_mails_per_hour": 1000})
    yield s


@pytest.fixture
def alice(site):
    site.enroll(ALICE, ALICE_EMAIL, pin=DEFAULT_PIN)
    return ALICE


def pytest_report_header(config):
    ok, why = installed()
    from lib.env import module_path, EMAILOTP
    return ["pam_emailotp module: %s (%s)" % (module_path(), "installed" if ok else why),
            "emailotp command: %s" % EMAILOTP]


@pytest.fixture(scope="session")
def pg(product):
    """A private PostgreSQL cluster (lib/pgcluster.py) with the fleet's database and roles,
    shared by the fleet-store tests and stopped at the end of the run."""
    from lib.pgcluster import PGCluster
    d = tempfile.mkdtemp(prefix="emailotp-pg-")
    os.chmod(d, 0o755)
    cluster = PGCluster(d + "/cluster")
    cluster.start()
    try:
        cluster.create_fleet()
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_schema(pg):
    """`emailotp store-init` as the owner role, and the GRANTs it printed: (result, grants)."""
    from lib.pgcluster import PGSite
    d = tempfile.mkdtemp(prefix="emailotp-pginit-")
    os.chmod(d, 0o755)
    try:
        return PGSite(d, pg, name="init").store_init()
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def syslog():
    """The module's syslog lines, captured on /dev/log (skipped where a syslog daemon owns it)."""
    from lib.syslog_capture import SyslogCapture, SyslogUnavailable
    try:
        cap = SyslogCapture()
        cap.__enter__()
    except SyslogUnavailable as e:
        pytest.skip(str(e))
    yield cap
    cap.__exit__(None, None, None)
