"""A real screen locker: xsecurelock (Debian's package) under Xvfb, locked by a test user and
unlocked by that same user with the PIN and the mailed code, typed with xdotool.

xsecurelock runs PAM as the user who locked the screen (its authproto_pam), so the module
reaches the setuid helper as a program that is not root, asking for the login of the very
user it runs as: served without helper_group (docs/callers.md). Its PAM service is the test's
(XSECURELOCK_PAM_SERVICE) in a private copy of /etc/pam.d; the site's configuration is the
system's in the namespace. Each step's screenshot is kept under $EMAILOTP_ARTIFACTS (default
tmp/artifacts in the repository, ignored by git) /xsecurelock/; docs/images/ holds copies for
docs/clients.md."""

import os
import secrets
import shutil
import subprocess
import time

import pytest

from clientsupport import PIN, with_system_security_files
from lib.mail import extract_code
from lib.xwd import xwd_to_png

ARTIFACTS = os.environ.get("EMAILOTP_ARTIFACTS") or os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "tmp", "artifacts"))


class Screen:
    """Xvfb on a free display, its framebuffer kept as an XWD file for screenshots."""

    def __init__(self, directory, shots):
        self.dir = str(directory)
        self.shots = shots
        os.makedirs(self.dir, mode=0o755, exist_ok=True)
        os.makedirs(shots, exist_ok=True)
        r, w = os.pipe()
        self.proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "800x480x24", "-wr", "-ac",
                                      "-nolisten", "tcp", "-fbdir", self.dir],
                                     pass_fds=[w], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(w)
        with os.fdopen(r) as f:
            number = f.readline().strip()
        assert number, "Xvfb did not start"
        self.display = ":" + number
        self.fb = os.path.join(self.dir, "Xvfb_screen0")

    def frame(self):
        with open(self.fb, "rb") as f:
            return f.read()

    def shot(self, name):
        return xwd_to_png(self.fb, os.path.join(self.shots, name + ".png"))

    def xdotool(self, *args):
        subprocess.run(["xdotool"] + list(args), env={"DISPLAY": self.display, "PATH": "/usr/bin:/bin"},
                       check=True, timeout=30)

    def wait_change(self, before, what, timeout=60):
        """Waits until the screen differs from `before` (the locker drew something)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.frame()
            if now != before:
                return now
            time.sleep(0.1)
        raise AssertionError("the screen did not change: " + what)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(15)


def wait_for(predicate, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


@pytest.fixture
def locker(site, staged, pam_dir, namespace, accounts, tmp_path):
    """(namespace, user, screen, PAM service) for a user who locks their screen."""
    if not shutil.which("xsecurelock") or not shutil.which("Xvfb") or not shutil.which("xdotool"):
        pytest.fail("xsecurelock, xvfb and xdotool are needed (IntegrationTests/packages.txt)")
    user = accounts.user(password="Pw-unix-Lock-1")
    site.enroll(user, user + "@example.org", pin=PIN)
    site.write_config(otp_tries=3)
    with_system_security_files(site)
    service = "eotp-lock-" + secrets.token_hex(3)
    # What docs/clients.md says for xsecurelock: the module's interactive mode, no helper_group.
    text = "auth required %s helper=%s\naccount required pam_permit.so\n" % (staged["module"], staged["helper"])
    ns = namespace(pam_dir(**{service: text}))
    screen = Screen(tmp_path / "x", os.path.join(ARTIFACTS, "xsecurelock"))
    yield ns, user, screen, service
    screen.stop()


def lock(ns, user, screen, service, tmp_path):
    env = ["env", "-i", "DISPLAY=" + screen.display, "PATH=/usr/bin:/bin", "HOME=/home/" + user,
           "XSECURELOCK_PAM_SERVICE=" + service, "XSECURELOCK_NO_COMPOSITE=1",
           "XSECURELOCK_PASSWORD_PROMPT=asterisks", "XSECURELOCK_SHOW_USERNAME=1", "XSECURELOCK_SHOW_HOSTNAME=0",
           "XSECURELOCK_AUTH_TIMEOUT=120", "XSECURELOCK_BLANK_TIMEOUT=-1"]
    log = open(str(tmp_path / "xsecurelock.log"), "w")
    return ns.popen(env + ["xsecurelock"], user=user, stdout=log, stderr=subprocess.STDOUT), log


def test_xsecurelock_unlocks_with_pin_and_mailed_code(locker, site, smtp, tmp_path):
    ns, user, screen, service = locker
    blank = screen.frame()
    proc, log = lock(ns, user, screen, service, tmp_path)
    locked = screen.wait_change(blank, "xsecurelock locked the screen")
    screen.shot("01-locked")

    # A key wakes the prompt: the module's PIN prompt, in xsecurelock's dialog.
    screen.xdotool("key", "Return")
    pin_prompt = screen.wait_change(locked, "the PIN prompt")
    screen.shot("02-pin-prompt")
    screen.xdotool("type", "--delay", "20", PIN)
    pin_typed = screen.wait_change(pin_prompt, "the PIN typed")
    screen.shot("03-pin-typed")
    screen.xdotool("key", "Return")

    mail = wait_for(lambda: [m for m in smtp.messages() if user + "@example.org" in str(m.get("To", ""))],
                    "the code mail")[0]
    code = extract_code(mail)
    # The module's message ("A code was sent to ...") is shown until a key or for a second
    # (xsecurelock's WaitForKeypress), then the code prompt: Shift acknowledges the message
    # when it is up and does nothing at the prompt, so the code's digits all reach the prompt.
    screen.wait_change(pin_typed, "the message")
    screen.shot("04-code-sent")
    screen.xdotool("key", "shift")
    screen.xdotool("type", "--delay", "20", code)
    screen.shot("05-code-typed")
    screen.xdotool("key", "Return")
    try:
        status = proc.wait(90)
    finally:
        log.close()
    assert status == 0, open(str(tmp_path / "xsecurelock.log")).read() + ns.log_text()
    screen.shot("06-unlocked")
    logged = ns.log_text()
    assert "own login of caller uid" in logged, logged
    assert "granted" in logged
    assert "not a member of helper_group" not in logged and "helper_group is not set" not in logged
