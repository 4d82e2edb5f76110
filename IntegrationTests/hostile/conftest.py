"""Fixtures of the hostile-caller suite: real su, chfn and sudo (and the helper run directly by
an application that is not root) driven by an unprivileged test user who shapes the caller's
process (environment, resource limits, signals, descriptors) and stops or kills its own su.

Everything runs in private mount namespaces: the test's PAM files are bind-mounted over the
service files, the test site over /etc/security for the direct helper callers; the site's
store, config and mail capture (SMTP with STARTTLS) live in the test's temporary directory.
"""

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
# Appended, not prepended: a directory put first would answer other suites' "from conftest import".
for _path in (ROOT, ROOT / "services", HERE):
    if str(_path) not in sys.path:
        sys.path.append(str(_path))

from lib.env import TestSite  # noqa: E402
from lib.smtp_capture import SMTPCapture  # noqa: E402

import svc  # noqa: E402

from hostilecaller import HELPER  # noqa: E402


@pytest.fixture(scope="session")
def helper_installed(product):
    st = os.stat(HELPER) if os.path.exists(HELPER) else None
    if st is None or not st.st_mode & 0o4000 or st.st_uid != 0:
        pytest.fail("the setuid helper %s is missing (install.sh installs it)" % HELPER)


@pytest.fixture
def users(product):
    u = svc.Users()
    yield u
    u.cleanup()


@pytest.fixture
def tls_smtp(tmp_path):
    with SMTPCapture(tmp_path / "mail", tls="starttls", require_starttls=True) as s:
        yield s


@pytest.fixture
def site(helper_installed, tmp_path, tls_smtp):
    """SMTP with STARTTLS (so that libcurl and libssl do their whole work), three tries per
    code, a short store_timeout."""
    s = TestSite(tmp_path, smtp=tls_smtp, keys={
        "resend_interval": 0, "max_mails_per_hour": 1000, "mail_tls": "starttls",
        "mail_ca_file": tls_smtp.ca_file, "otp_tries": 3, "max_fail": 20, "max_fail_source": 20,
        "store_timeout": 3})
    # The caller must be able to reach the site's directory (not its store).
    os.chmod(tmp_path, 0o755)
    yield s


@pytest.fixture(scope="session")
def pamrun():
    """bench/pamrun.c built for the tests: one PAM transaction, "-" answers read from stdin.
    In a directory every user can reach (the application users run it)."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="emailotp-pamrun-"))
    os.chmod(d, 0o755)
    out = d / "pamrun"
    subprocess.run(["cc", "-O2", "-o", str(out), str(ROOT.parent / "bench" / "pamrun.c"), "-lpam"], check=True)
    os.chmod(out, 0o755)
    yield str(out)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def spawn():
    yield from svc.spawner()
