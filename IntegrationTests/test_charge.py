"""What the caller of su or sudo controls, against the installed module on its in-process path
(pamtester run as root, and the test driver): the resource limits and the lock holder.

- Charge before check: under a low RLIMIT_FSIZE (SIGXFSZ ignored) a PIN or code whose charge
  cannot be written is not evaluated: the right and the wrong answer get the same words, no
  mail, nothing counted, nothing granted.  One byte under the record's size, within
  resend_interval (the re-used challenge once wrote nothing), the right code is not granted.
- The file store's lock waits end after store_timeout: behind a process that holds the lock
  and is stopped (SIGSTOP, as the caller of su may stop its own su), a login and the admin
  verbs fail closed ("store busy", PAM_AUTHINFO_UNAVAIL); for a name without a lock file the
  locks/ directory's lock, which every new enrolment waits for, too (a login for such a name
  takes no lock: it has nothing to charge).

The su, sudo and chfn variants of these (the caller unprivileged) belong to the hostile-caller
suite; these are the module's own path.
"""

import os
import re
import shutil
import signal
import subprocess
import sys

import pexpect
import pytest

from lib.env import ALICE, ALICE_EMAIL, DEFAULT_PIN, TestSite
from lib.flows import ANY_OTP_PROMPT, OTP_PROMPT, PIN_PROMPT, CodeAnswerer, password_answer, wrong_code
from lib.mail import extract_code
from lib.pamdriver import PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_SUCCESS

UNAVAILABLE = "Authentication service cannot retrieve authentication info"


# ------------------------------------------------------------------ pamtester under prlimit

@pytest.fixture
def tester(product, tmp_path, smtp):
    """A site with alice enrolled, and run(answers, fsize=None, args=""): one pamtester
    authentication with /etc/pam.d replaced by a copy holding the site's stack, under
    `prlimit --fsize` with SIGXFSZ ignored. Returns (output after the prompts, exit status,
    prompts seen)."""
    site = TestSite(tmp_path, smtp=smtp, keys=dict(resend_interval=0))
    site.enroll(ALICE, ALICE_EMAIL)
    pamd = tmp_path / "pam.d"
    shutil.copytree("/etc/pam.d", pamd, symlinks=True)

    def run(answers, fsize=None, args=""):
        (pamd / "emailotp-charge").write_text(site.stack(args))
        limit = "prlimit --fsize=%d:%d " % (fsize, fsize) if fsize is not None else ""
        script = ("trap '' XFSZ; mount --bind \"$1\" /etc/pam.d; exec %spamtester emailotp-charge \"$2\" authenticate"
                  % limit)
        child = pexpect.spawn("unshare", ["--mount", "--propagation", "private", "--", "/bin/sh", "-ec", script,
                                          "sh", str(pamd), ALICE],
                              env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "dumb"},
                              encoding="utf-8", timeout=60)
        prompts = []
        pending = list(answers)
        try:
            while True:
                # pamtester sets no PAM_TTY: the code prompt may carry where the code went.
                i = child.expect([re.escape(PIN_PROMPT), ANY_OTP_PROMPT, pexpect.EOF])
                if i == 2:
                    break
                prompts.append((PIN_PROMPT, OTP_PROMPT)[i])
                answer = pending.pop(0) if pending else ""
                child.sendline(answer() if callable(answer) else answer)
            output = child.before
        finally:
            child.close()
        return output, child.exitstatus, prompts

    run.site = site
    return run


def test_a_pin_whose_charge_cannot_be_written_is_not_evaluated(tester, smtp):
    """RLIMIT_FSIZE 0 with SIGXFSZ ignored: no file can grow. The right and the wrong PIN
    answer alike, no mail goes out, and nothing was counted."""
    site = tester.site
    before = site.snapshot()
    right = tester([DEFAULT_PIN, lambda: extract_code(smtp.last())], fsize=0)
    wrong = tester(["not-the-pin"], fsize=0)
    assert UNAVAILABLE in right[0], right
    assert right == wrong, "the right and the wrong PIN must look the same:\n%r\n%r" % (right, wrong)
    assert right[2] == [PIN_PROMPT]
    assert smtp.count() == 0
    assert site.snapshot() == before
    # The limit lifted, the right PIN and code log in; a wrong PIN is counted.
    assert tester([DEFAULT_PIN, lambda: extract_code(smtp.last())])[1] == 0
    assert tester(["not-the-pin"])[1] != 0
    assert site.read_record(ALICE)["fail_count"] == "1"


def test_within_resend_interval_a_code_one_byte_under_the_record_size_is_not_granted(tester, smtp):
    """The su/sudo attack: within resend_interval the open challenge is re-used; with
    RLIMIT_FSIZE one byte under the record's size a wrong code once failed to write (and was
    not counted) while the right one wrote a smaller record and was granted. Now the charge,
    the record's size at least, is written first: nothing is compared."""
    site = tester.site
    site.write_config(resend_interval=300)
    assert site.authenticate(ALICE, password_answer(DEFAULT_PIN), args="mode=challenge").rc != PAM_SUCCESS
    code = extract_code(smtp.last())
    size = site.record_path(ALICE).stat().st_size
    record = site.read_record(ALICE)
    for answers in ([DEFAULT_PIN, wrong_code(code)], [DEFAULT_PIN, code], ["not-the-pin", code]):
        output, status, prompts = tester(answers, fsize=size - 1)
        assert status != 0 and "successfully authenticated" not in output, (answers, output)
        assert UNAVAILABLE in output, output
        assert prompts == [PIN_PROMPT], "no code prompt after a charge that was not written: %r" % prompts
    assert site.read_record(ALICE) == record, "no try used, no failure lost, nothing granted"
    assert smtp.count() == 1
    output, status, _ = tester([DEFAULT_PIN, code])
    assert status == 0, output


# ------------------------------------------------------------------ a stopped lock holder

@pytest.fixture
def stopped_holder():
    """stopped_holder(path, directory=False): a process that takes an exclusive flock on path
    and stops itself (SIGSTOP) while holding it; killed at the end of the test."""
    holders = []

    def hold(path, directory=False):
        flags = "os.O_RDONLY | os.O_DIRECTORY" if directory else "os.O_RDONLY"
        p = subprocess.Popen([sys.executable, "-c",
                              "import fcntl, os, signal, sys\n"
                              "fd = os.open(sys.argv[1], %s)\n"
                              "fcntl.flock(fd, fcntl.LOCK_EX)\n"
                              "os.kill(os.getpid(), signal.SIGSTOP)\n" % flags, str(path)])
        holders.append(p)
        _, status = os.waitpid(p.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), "the holder did not stop (status %r)" % status
        return p
    yield hold
    for p in holders:
        p.send_signal(signal.SIGKILL)
        p.wait()


def test_a_stopped_holder_of_the_users_lock_fails_logins_and_verbs_closed(site, smtp, alice, stopped_holder):
    site.write_config(store_timeout=1)
    holder = stopped_holder(site.store / "locks" / ALICE)
    res = site.authenticate(ALICE, CodeAnswerer(smtp))
    assert res.rc == PAM_AUTHINFO_UNAVAIL, res.describe()
    res = site.authenticate(ALICE, password_answer(DEFAULT_PIN), args="mode=challenge")
    assert res.rc == PAM_AUTHINFO_UNAVAIL, res.describe()
    assert smtp.count() == 0
    for verb in (("reset", ALICE), ("disable", ALICE), ("recovery-codes", ALICE)):
        p = site.cli(*verb, timeout=30)
        assert p.returncode != 0 and "store busy" in p.stderr, (verb, p.returncode, p.stderr)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert site.authenticate(ALICE, CodeAnswerer(smtp)).rc == PAM_SUCCESS


def test_a_stopped_holder_of_the_locks_directory_fails_new_names_closed(site, smtp, alice, stopped_holder):
    """A new enrolment waits for the locks/ directory's lock (and fails closed after
    store_timeout); an unenrolled name's login takes no lock at all (it has nothing to charge) and
    is refused like a wrong PIN at once; alice's own login is not held up either."""
    site.write_config(store_timeout=1)
    stopped_holder(site.store / "locks", directory=True)
    res = site.authenticate("mallory", password_answer(DEFAULT_PIN))
    assert res.rc == PAM_AUTH_ERR, res.describe()
    p = site.cli("enroll", "bob", "--email", "bob@example.com", "--no-pin", timeout=30)
    assert p.returncode != 0 and "store busy" in p.stderr, (p.returncode, p.stderr)
    assert site.authenticate(ALICE, CodeAnswerer(smtp)).rc == PAM_SUCCESS
