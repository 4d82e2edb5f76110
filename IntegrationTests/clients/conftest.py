"""Fixtures for the real-client tests: Dovecot, OpenVPN, nginx and python-pam
against pam_emailotp in mode=challenge (pam_emailotp(8), Challenge mode).  Run as root, under the
services lock (they create Unix users and groups):

    cd IntegrationTests && flock /tmp/emailotp-services.lock \\
        /usr/bin/python3 -m pytest -q -p no:cacheprovider clients

EMAILOTP_MODULE / EMAILOTP_BIN / EMAILOTP_HELPER point them at a build that is
not installed.  Every server runs in a private namespace (sandbox.py) with the
test site's directory bind-mounted over /etc/security (so the module and the
setuid helper read the site's emailotp.conf as the system configuration) and a
copy of /etc/pam.d holding the test's service file.
"""

import os
import pathlib
import secrets
import shutil
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from lib.env import HELPER, TestSite, module_path  # noqa: E402
from sandbox import Namespace  # noqa: E402


# `product` (root, module and command installed), `tmp_path` and `smtp` come from
# IntegrationTests/conftest.py, shared by every suite; these tests need the helper too.
@pytest.fixture(scope="session")
def _root(product):
    if not os.path.exists(HELPER):
        pytest.fail("the helper %s is missing (install.sh, or EMAILOTP_HELPER=...)" % HELPER)


@pytest.fixture
def site(_root, tmp_path, smtp):
    """The test site; its directory becomes /etc/security in the namespaces."""
    s = TestSite(tmp_path, smtp=smtp, keys={"resend_interval": 0, "max_mails_per_hour": 1000})
    yield s


@pytest.fixture
def staged(tmp_path, _root):
    """The module and a setuid-root copy of the helper where any user can reach
    them (the build tree need not be), like install.sh installs them."""
    d = tmp_path / "bin"
    d.mkdir(mode=0o755)
    module = d / "pam_emailotp.so"
    helper = d / "emailotp-helper"
    shutil.copyfile(module_path(), module)
    shutil.copyfile(HELPER, helper)
    os.chmod(module, 0o644)
    os.chown(helper, 0, 0)
    os.chmod(helper, 0o4755)
    yield {"module": str(module), "helper": str(helper)}
    # A setuid-root copy must never outlive the test, whatever happens to the rest of tmp_path.
    for path in (helper, module):
        if os.path.lexists(path):
            os.unlink(path)






@pytest.fixture
def pam_dir(tmp_path):
    """pam_dir(name=text, ...): a copy of /etc/pam.d with these service files."""
    def make(**files):
        d = tmp_path / "pam.d"
        if not d.exists():
            shutil.copytree("/etc/pam.d", d, symlinks=True)
        for name, text in files.items():
            (d / name).write_text(text)
            os.chmod(d / name, 0o644)
        return d
    return make


@pytest.fixture
def namespace(tmp_path, site):
    """namespace(pam_dir, net=False, binds=()) -> a started Namespace with the
    site over /etc/security; stopped at teardown, its syslog printed."""
    started = []

    def start(pam_dir, net=False, binds=()):
        ns = Namespace(tmp_path / ("ns%d" % len(started)),
                       binds=[(pam_dir, "/etc/pam.d"), (site.dir, "/etc/security")] + list(binds),
                       net=net)
        started.append(ns)
        return ns.start()

    yield start
    for ns in started:
        ns.stop()
        print("\n--- syslog of %s ---\n%s" % (ns.dir, ns.log_text()))


class Accounts:
    """Unix users and groups named eoc-* for one test, removed at teardown;
    memberships added to existing users (www-data) are taken back."""

    def __init__(self):
        self.users, self.groups, self.memberships, self.homes = [], [], [], []

    def group(self):
        name = "eoc-g" + secrets.token_hex(3)
        subprocess.run(["groupadd", name], check=True)
        self.groups.append(name)
        return name

    def user(self, groups=(), password=None):
        """A user without a shell or home; with `password`, one who can log in (bash, a
        home, that Unix password), as Cockpit, vsftpd and sudo need."""
        name = "eoc-u" + secrets.token_hex(3)
        if password is None:
            subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin",
                            "--user-group", name], check=True)
        else:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "--user-group", name],
                           check=True)
            self.homes.append(name)
            subprocess.run(["chpasswd"], input="%s:%s\n" % (name, password), text=True, check=True)
        self.users.append(name)
        for g in groups:
            subprocess.run(["gpasswd", "-a", name, g], check=True, capture_output=True)
        return name

    def add_member(self, user, group):
        subprocess.run(["gpasswd", "-a", user, group], check=True, capture_output=True)
        self.memberships.append((user, group))

    def cleanup(self):
        for user, group in self.memberships:
            _retry(["gpasswd", "-d", user, group])
        for name in self.users:
            _retry(["userdel", "--force"] + (["--remove"] if name in self.homes else []) + [name])
        for name in self.groups:
            _retry(["groupdel", name])


def _retry(argv, attempts=10):
    """shadow-utils fail with a busy lock while another process edits
    /etc/passwd or /etc/group; the machine must be left as it was."""
    import time
    for _ in range(attempts):
        if subprocess.run(argv, capture_output=True).returncode == 0:
            return
        time.sleep(0.5)
    print("cleanup failed: %s" % " ".join(argv))


@pytest.fixture
def accounts(_root):
    a = Accounts()
    yield a
    a.cleanup()


