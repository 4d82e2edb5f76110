"""Fixtures for the service tests (sshd, sudo, su, pamtester with the repo's
pam.d examples).  Run as root:

    cd IntegrationTests && /usr/bin/python3 -m pytest -q -p no:cacheprovider services
"""

import pathlib
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))   # IntegrationTests: the shared `lib` package
sys.path.insert(0, str(HERE))          # svc.py

from lib.env import TestSite  # noqa: E402

import svc  # noqa: E402




# `product` (root, module and command installed), `tmp_path` and `smtp` come from
# IntegrationTests/conftest.py, shared by every suite.

@pytest.fixture
def users(product):
    u = svc.Users()
    yield u
    u.cleanup()


@pytest.fixture
def site(product, tmp_path, smtp):
    """A private store + config that mails to the capture server.  The
    services reach it through config=PATH on the module line."""
    s = TestSite(tmp_path, smtp=smtp)
    yield s
    s.cleanup()


@pytest.fixture
def spawn():
    """spawn(argv) -> pexpect child on a pty; child.seen() is everything
    the user saw so far."""
    yield from svc.spawner()


@pytest.fixture
def sshd_factory(tmp_path):
    """start(pam_text, user, auth_methods, **kw) -> running svc.SSHD; stopped
    at teardown, its log printed (shown by pytest when a test fails)."""
    started = []

    def start(pam_text, user, auth_methods, **kw):
        d = tmp_path / ("sshd%d" % len(started))
        d.mkdir()
        s = svc.SSHD(d, pam_text, allow_user=user.name, auth_methods=auth_methods, **kw)
        started.append(s)
        return s.start()

    yield start
    for s in started:
        s.stop()
        print("\n--- sshd log (port %d) ---\n%s" % (s.port, s.log_text()))
