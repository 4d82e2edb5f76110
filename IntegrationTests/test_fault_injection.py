"""Fault injection: the module fails closed when the C library fails under it.

faultinject/faultinject.c is an LD_PRELOAD library (compiled here with gcc into
a temporary directory) that makes chosen libc calls fail on demand, driven by
EMAILOTP_FAULT="OP:MATCH:ACTION[:NTH[:COUNT]]" (see its header).  Each login
runs in its own process, faultinject/drive.py, which loads the installed
module through libpam with the library preloaded and prints the PAM result as
JSON; a crash shows as the signal that killed it, a hang as the guard timeout.

For every fault the tests check:
- the result is never PAM_SUCCESS (nor PAM_IGNORE, which no test allows except
  nullok for a user without a token), even when the right code was answered;
- an errno fault gives a PAM error code, not a crash; a store error is
  PAM_AUTHINFO_UNAVAIL, a configuration error PAM_SERVICE_ERR (docs/DESIGN.md);
- the fault really fired (the library's log names the call it failed);
- every record file still parses strictly (version line, every field once,
  well-formed values): the old or the new record, never a torn one; after an
  errno fault no temporary file is left behind.

Allocation failures: the module's Swift code cannot survive a failed malloc.
The Swift runtime traps ("Fatal error: failed to allocate": SIGABRT, or SIGILL
from a trap instruction), and in its metadata caches
(ConcurrentReadableHashMap::getOrInsert, swift_addNewDSOImage at load) it
uses the NULL and dies of SIGSEGV -- Swift's runtime, not this project's code.
For sshd and sudo either is a dead authentication process and nothing granted,
so the malloc tests count any death as failing closed, check that nothing was
granted and that the store is whole as after a crash.  "malloc:pam_emailotp"
fails only allocations made by the module's own code (Swift runtime included),
not those of libpam, libcurl, OpenSSL or Python; the OpenSSL test fails
allocations of libcrypto instead, where a failure is an error return that the
module must handle (a wrong code stays wrong).

kill -9: the library's KILL action makes the authenticating process send
itself SIGKILL at an exact call (mid-write, before the rename, before the
directory fsync), and the parallel test picks such points at random
(EMAILOTP_FAULT_SEED=N repeats a run).
"""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from lib.env import ALICE, ALICE_EMAIL, DEFAULT_PIN, PYTHON, TestSite, encode_user, parse_record
from lib.mail import extract_code
from lib.pamdriver import (PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_IGNORE, PAM_PERM_DENIED,
                           PAM_SERVICE_ERR, PAM_SUCCESS, rc_name)
from lib.smtp_capture import SMTPCapture

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "faultinject", "faultinject.c")
DRIVE = os.path.join(HERE, "faultinject", "drive.py")
GUARD = 30                      # seconds: a guard against a hang, never a wait
STORE = "/store"                # MATCH for every file and directory of the store
NOT_CLOSED = (PAM_SUCCESS, PAM_IGNORE, PAM_PERM_DENIED)
MAIL_FAILED = ("The code could not be sent by email. Try again later or contact your "
               "administrator.")


# ------------------------------------------------------------------ the library

@pytest.fixture(scope="module")
def faultlib(product):
    """faultinject.so, compiled for this test module into a temporary directory."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is needed to build the fault-injection library (apt-get install gcc)")
    d = tempfile.mkdtemp(prefix="emailotp-faultinject-")
    so = os.path.join(d, "faultinject.so")
    p = subprocess.run([gcc, "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror",
                        "-o", so, SOURCE, "-ldl"], capture_output=True, text=True)
    if p.returncode != 0:
        shutil.rmtree(d, ignore_errors=True)
        pytest.fail("compiling %s failed:\n%s" % (SOURCE, p.stderr))
    yield so
    shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------------ one login in a process

class Call:
    """One libc call the library saw: op, its count for the rule, path, action ("pass",
    an errno name, "KILL" or "SHORT")."""
    __slots__ = ("op", "n", "path", "action")

    def __init__(self, op, n, path, action):
        self.op, self.n, self.path, self.action = op, int(n), path, action

    @property
    def where(self):
        """The path with the pid of a temporary file taken out."""
        return re.sub(r"\.tmp\.\d+$", ".tmp.PID", self.path)

    def __repr__(self):
        return "%s#%d(%s)=%s" % (self.op, self.n, self.where, self.action)


class Outcome:
    def __init__(self, fault, proc, calls, elapsed):
        self.fault = fault
        self.calls = calls
        self.elapsed = elapsed
        self.stderr = proc.stderr
        self.signal = -proc.returncode if proc.returncode < 0 else None
        self.rc = None
        self.transcript = []
        if proc.returncode == 0:
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            self.rc = out["rc"]
            self.transcript = [tuple(m) for m in out["transcript"]]
        elif self.signal is None:
            raise AssertionError("the driver failed (exit %d) with EMAILOTP_FAULT=%r:\n%s\n%s"
                                 % (proc.returncode, fault, proc.stdout, proc.stderr))

    @property
    def fired(self):
        return [c for c in self.calls if c.action != "pass"]

    @property
    def rc_name(self):
        if self.rc is None:
            return "killed by %s" % signal.Signals(self.signal).name
        return rc_name(self.rc)

    @property
    def errors(self):
        return [t for s, t, _ in self.transcript if s == 3]

    @property
    def code_answers(self):
        return [r for s, t, r in self.transcript if t == "Email code: "]

    def describe(self):
        lines = ["EMAILOTP_FAULT=%r -> %s" % (self.fault, self.rc_name),
                 "fired: %r" % self.fired]
        lines += ["  %r" % (m,) for m in self.transcript]
        if self.signal is not None:
            lines.append(self.stderr[-1500:])
        return "\n".join(lines)


class Lab:
    """A TestSite with its SMTP capture, logins run through drive.py with the library."""

    def __init__(self, tmpdir, lib, smtp, keys=None):
        self.dir = tmpdir
        self.lib = lib
        self.smtp = smtp
        base = {"resend_interval": 0, "max_mails_per_hour": 1000}
        base.update(keys or {})
        self.site = TestSite(tmpdir, smtp=smtp, keys=base)
        self.store = str(self.site.store)
        self._n = 0
        self._stacks = {}

    # -- logins
    def stack_file(self, args):
        if args not in self._stacks:
            path = os.path.join(self.dir, "stack-%d" % len(self._stacks))
            with open(path, "w") as f:
                f.write(self.site.stack(args))
            self._stacks[args] = path
        return self._stacks[args]

    def argv(self, user=ALICE, codes="RIGHT", args="", password=None, pin=DEFAULT_PIN,
             mail_to=None, no_answer=False, direct=False):
        how = (["--direct", ("config=%s %s" % (self.site.config, args)).strip()] if direct
               else ["--stack-file", self.stack_file(args)])
        argv = [PYTHON, DRIVE, "--user", user] + how + [
            "--pin", pin, "--mail-dir", self.smtp.directory, "--codes", codes]
        if mail_to:
            argv += ["--mail-to", mail_to]
        if password is not None:
            argv += ["--password", password]
        if no_answer:
            argv.append("--no-answer")
        return argv

    def env(self, fault):
        self._n += 1
        log = os.path.join(self.dir, "faults-%d.log" % self._n)
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMAILOTP_FAULT")}
        # drive.py's PAM confdir goes under the test's directory: a process killed by a fault
        # cannot clean up after itself, and /tmp must not collect its leftovers.
        env["TMPDIR"] = self.dir
        if fault is not None:
            env.update(LD_PRELOAD=self.lib, EMAILOTP_FAULT=fault, EMAILOTP_FAULT_LOG=log)
        return env, log

    @staticmethod
    def calls(log):
        if not os.path.exists(log):
            return []
        with open(log) as f:
            return [Call(*line.rstrip("\n").split("\t")) for line in f if line.strip()]

    def run(self, fault, guard=GUARD, **kw):
        """One login in its own process with EMAILOTP_FAULT=fault (None: no library)."""
        env, log = self.env(fault)
        t0 = time.monotonic()
        try:
            p = subprocess.run(self.argv(**kw), env=env, capture_output=True, text=True,
                               timeout=guard)
        except subprocess.TimeoutExpired:
            pytest.fail("the login hung (no result in %ds) with EMAILOTP_FAULT=%r" % (guard, fault))
        return Outcome(fault, p, self.calls(log), time.monotonic() - t0)

    def trace(self, **kw):
        """A login with nothing failed: every store call it makes, in order."""
        out = self.run("any:%s:PASS" % STORE, **kw)
        assert out.rc == PAM_SUCCESS, out.describe()
        assert out.calls, "the library saw no store call: is it preloaded?"
        return out

    # -- the store
    def save(self):
        self._n += 1
        d = os.path.join(self.dir, "saved-%d" % self._n)
        shutil.copytree(self.store, d, symlinks=True)
        return d

    def restore(self, saved):
        shutil.rmtree(self.store)
        shutil.copytree(saved, self.store, symlinks=True)

    def record(self, user=ALICE):
        return self.site.read_record(user)


@pytest.fixture
def make_lab(faultlib, tmp_path):
    """make_lab(keys=None, **smtp_options) -> Lab with alice enrolled."""
    servers = []

    def make(keys=None, enroll=True, **smtp_options):
        smtp = SMTPCapture(tmp_path / ("mail%d" % len(servers)), **smtp_options).start()
        servers.append(smtp)
        lab = Lab(str(tmp_path / ("lab%d" % len(servers))), faultlib, smtp, keys)
        os.makedirs(lab.dir, exist_ok=True)
        if enroll:
            lab.site.enroll(ALICE, ALICE_EMAIL)
        return lab
    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def lab(make_lab):
    return make_lab()


# ------------------------------------------------------------------ what "fails closed" means

RECORD_FIELDS = ("user", "email", "pin", "state", "fail_count", "locked_at", "mails")
VALUE_RE = {
    "email": re.compile(r"^[^\s@]+@[^\s@]+$"),
    "pin": re.compile(r"^(-|\$\S+)$"),
    "state": re.compile(r"^(enabled|disabled)$"),
    "fail_count": re.compile(r"^\d+$"),
    "locked_at": re.compile(r"^\d+$"),
    "mails": re.compile(r"^(\d+( \d+)*)?$"),
}
# with notify = unanswered, two more fields: service and remote host in hex, or "-"
CHALLENGE_RE = re.compile(r"^challenge \d{20} [0-9a-f]{64} \d+ \d+ \d+( (-|[0-9a-f]+) (-|[0-9a-f]+))?$")
UNANSWERED_RE = re.compile(r"^unanswered \d+ \d+ (-|[0-9a-f]+) (-|[0-9a-f]+)$")
# failures counted per source (keyed id, count, last failure, locked at): one line per source
SOURCE_RE = re.compile(r"^source [0-9a-f]{64} \d+ \d+ \d+$")


def check_record(name, text):
    """A whole record (docs/DESIGN.md): the version line, every field once, well-formed
    values, well-formed challenges, a final newline. Returns parse_record(text)."""
    where = "record %s:\n%s" % (name, text)
    assert text.endswith("\n"), "torn %s" % where
    lines = text[:-1].split("\n")
    assert lines[0] == "emailotp-token 2", "no version line in %s" % where
    seen = {}
    for line in lines[1:]:
        key, _, value = line.partition(" ")
        if key == "challenge":
            assert CHALLENGE_RE.match(line), "torn challenge line %r in %s" % (line, where)
            continue
        if key == "source":
            assert SOURCE_RE.match(line), "torn source line %r in %s" % (line, where)
            continue
        if key == "unanswered":
            assert UNANSWERED_RE.match(line), "torn unanswered line %r in %s" % (line, where)
            continue
        assert key in RECORD_FIELDS and key not in seen, "bad line %r in %s" % (line, where)
        seen[key] = value
    assert set(seen) == set(RECORD_FIELDS), "missing fields in %s" % where
    for key, rx in VALUE_RE.items():
        assert rx.match(seen[key]), "bad %s in %s" % (key, where)
    assert encode_user(seen["user"]) == name, "record of another user in %s" % where
    rec = parse_record(text)
    assert rec["user"] == seen["user"]
    return rec


def assert_store_whole(store, allow_temp=False):
    """Every record parses; hmac.key is whole; lock files are empty. Temporary files
    (".NAME.tmp.PID") are allowed only after a crash. Returns {user file: record}."""
    records = {}
    temps = []
    users = os.path.join(store, "users")
    for name in sorted(os.listdir(users)) if os.path.isdir(users) else []:
        with open(os.path.join(users, name)) as f:
            text = f.read()
        if name == ".decoy":
            continue  # the decoy record every attempt writes when it leaves the record as it was
        if name.startswith("."):
            temps.append("users/" + name)
            continue
        records[name] = check_record(name, text)
    for name in os.listdir(store):
        if name.startswith("."):
            temps.append(name)
    key = os.path.join(store, "hmac.key")
    if os.path.exists(key):
        with open(key) as f:
            assert re.match(r"^[0-9a-f]{64}\n$", f.read()), "torn hmac.key"
    locks = os.path.join(store, "locks")
    for name in os.listdir(locks) if os.path.isdir(locks) else []:
        assert os.path.getsize(os.path.join(locks, name)) == 0, "lock file %s is not empty" % name
    if not allow_temp:
        assert not temps, "temporary files left behind after a failed write: %r" % temps
    return records


def assert_fails_closed(out, rc=None):
    """Never PAM_SUCCESS or PAM_IGNORE (which libpam reports as PAM_PERM_DENIED for a
    stack of one; the module itself never returns PAM_PERM_DENIED); an errno fault ends
    in a PAM code (rc when given), not in a crash; the fault fired."""
    assert out.fired, "the fault never fired:\n%s" % out.describe()
    assert out.signal is None, "the module crashed instead of failing:\n%s" % out.describe()
    assert out.rc not in NOT_CLOSED, out.describe()
    if rc is not None:
        assert out.rc == rc, out.describe()


def ordinals(calls, op, pred=lambda c: True):
    """The per-op counts (NTH) of the calls of `op` for which pred holds."""
    out = []
    k = 0
    for c in calls:
        if c.op == op:
            k += 1
            if pred(c):
                out.append(k)
    return out


# ------------------------------------------------------------------ configuration

@pytest.mark.parametrize("what,op,errno", [
    ("config", "open", "EIO"),
    ("config", "read", "EIO"),
    ("config", "stat", "EIO"),
    ("template", "open", "EACCES"),
    ("template", "read", "EIO"),
])
def test_fault_while_reading_the_configuration_is_service_error(make_lab, tmp_path, what, op,
                                                               errno):
    """The configuration (or a template it names) cannot be read: PAM_SERVICE_ERR before
    any prompt, no mail, the store untouched."""
    keys = None
    if what == "template":
        tmpl = str(tmp_path / "code.tmpl")
        TestSite.write_file(tmpl, "Your code:\n\n    {otp}\n", 0o644)
        keys = {"mail_template": tmpl}
    lab = make_lab(keys=keys)
    match = "/emailotp.conf" if what == "config" else "/code.tmpl"
    before = lab.site.snapshot()
    out = lab.run("%s:%s:%s" % (op, match, errno))
    assert_fails_closed(out, PAM_SERVICE_ERR)
    assert out.transcript == [], out.describe()
    assert lab.smtp.count() == 0
    assert lab.site.snapshot() == before


# ------------------------------------------------------------------ every store call, in turn

SWEEP = [("open", "EIO"), ("stat", "EIO"), ("read", "EIO"), ("flock", "ENOLCK"),
         ("write", "ENOSPC"), ("fsync", "EIO"), ("rename", "EROFS")]


@pytest.mark.parametrize("op,errno", SWEEP, ids=["%s-%s" % s for s in SWEEP])
def test_each_failing_store_call_of_a_right_code_login_fails_closed(lab, op, errno):
    """A login answered with the right code, first traced, then repeated from the same
    store once per `op` call it makes on the store, with that call failing: every run is
    PAM_AUTHINFO_UNAVAIL, and the store is left whole (old or new records, no temporary
    file). Covers reading the record and the key, the lock, and every step of writing."""
    saved = lab.save()
    trace = lab.trace()
    lab.restore(saved)
    targets = [c for c in trace.calls if c.op == op]
    assert targets, "a login makes no %s call on the store: %r" % (op, trace.calls)
    for k, target in enumerate(targets, 1):
        out = lab.run("%s:%s:%s:%d:1" % (op, STORE, errno, k))
        assert [(c.op, c.n, c.where) for c in out.fired] == [(op, k, target.where)], \
            "the fault hit another call than traced:\n%s" % out.describe()
        assert_fails_closed(out, PAM_AUTHINFO_UNAVAIL)
        assert_store_whole(lab.store)
        lab.restore(saved)


def test_store_fault_for_an_enrolled_user_with_nullok_is_not_ignored(lab):
    """nullok ignores users without a token only: when the store cannot be read for an
    enrolled user, each store call made before the first prompt (the look-up that decides
    "no token"), failed in turn, gives PAM_AUTHINFO_UNAVAIL without a prompt, not
    PAM_IGNORE."""
    probe = lab.run("any:%s:PASS" % STORE, args="nullok", no_answer=True, direct=True)
    assert probe.transcript and probe.rc not in NOT_CLOSED, probe.describe()
    assert any(c.path.endswith("/users/alice") for c in probe.calls), probe.calls
    for op in sorted({c.op for c in probe.calls}):
        for k, target in enumerate([c for c in probe.calls if c.op == op], 1):
            out = lab.run("%s:%s:EIO:%d:1" % (op, STORE, k), args="nullok", direct=True)
            assert [c.where for c in out.fired] == [target.where], out.describe()
            assert_fails_closed(out, PAM_AUTHINFO_UNAVAIL)
            assert out.transcript == [], out.describe()
            assert_store_whole(lab.store)


# ------------------------------------------------------------------ the write after a right code

GRANT_WRITE = {
    "write-ENOSPC": ("write", "ENOSPC", lambda c: "/users/.alice.tmp." in c.path, "old"),
    "short-write-then-ENOSPC": ("write", "ENOSPC", lambda c: "/users/.alice.tmp." in c.path, "old"),
    "fsync-EIO": ("fsync", "EIO", lambda c: "/users/.alice.tmp." in c.path, "old"),
    "rename-EROFS": ("rename", "EROFS", lambda c: "/users/.alice.tmp." in c.path, "old"),
    "dir-fsync-EIO": ("fsync", "EIO", lambda c: c.path.endswith("/store/users"), "new"),
}


@pytest.mark.parametrize("case", list(GRANT_WRITE))
def test_fault_while_writing_the_record_after_a_right_code_does_not_grant(lab, case):
    """The right code is answered, and the write that would consume the challenge fails:
    PAM_AUTHINFO_UNAVAIL, not PAM_SUCCESS. Before the rename the charged record stays (the
    challenge open, its try and the failure charged: a grant that was not written refunds
    nothing); a failing directory fsync after the rename leaves the new one."""
    op, errno, is_record, state = GRANT_WRITE[case]
    saved = lab.save()
    trace = lab.trace()
    lab.restore(saved)
    k = ordinals(trace.calls, op, is_record)[-1]      # the last one: the grant's write
    fault = "%s:%s:%s:%d:1" % (op, STORE, errno, k)
    if case.startswith("short-write"):
        # half the record is written, then the disk is full
        fault = "write:%s:SHORT:%d:1;write:%s:%s:%d:1" % (STORE, k, STORE, errno, k + 1)
    out = lab.run(fault)
    assert_fails_closed(out, PAM_AUTHINFO_UNAVAIL)
    code = extract_code(lab.smtp.last())
    assert out.code_answers == [code], "the right code was not answered:\n%s" % out.describe()
    records = assert_store_whole(lab.store)
    challenges = records["alice"]["challenges"]
    if state == "old":
        assert len(challenges) == 1 and challenges[0]["tries_left"] == 2, records["alice"]
        assert records["alice"]["fail_count"] == "1"
    else:
        assert challenges == [], records["alice"]
        assert records["alice"]["fail_count"] == "0"


def test_flock_failure_fails_closed_before_any_mail(lab):
    """flock on the user's lock file fails: PAM_AUTHINFO_UNAVAIL, no code mailed, the
    record unchanged."""
    before = lab.site.snapshot()
    out = lab.run("flock:/locks/alice:ENOLCK")
    assert_fails_closed(out, PAM_AUTHINFO_UNAVAIL)
    assert lab.smtp.count() == 0
    after = lab.site.snapshot()
    assert after["users/alice"] == before["users/alice"]


# ------------------------------------------------------------------ the charge before the check

CHARGE_ERRNOS = ["ENOSPC", "EFBIG", "EDQUOT", "EIO"]
RECORD_WRITE = "write:/users/.alice.tmp."


def seen(out):
    """What the person logging in saw (the answers they gave left out), and the store calls
    the login made (its work), with the temporary files' pids taken out."""
    return ([(s, t) for s, t, _ in out.transcript], out.rc,
            [(c.op, c.where) for c in out.calls])


@pytest.mark.parametrize("errno", CHARGE_ERRNOS)
@pytest.mark.parametrize("kind", ["pin", "pin-and-code", "code-prompt", "recovery-code"])
def test_an_answer_whose_charge_cannot_be_written_is_not_evaluated(make_lab, kind, errno):
    """The write that charges the attempt (a failure, a try) before its answer is compared
    fails: the login is PAM_AUTHINFO_UNAVAIL with the same words and the same store calls
    whether the answer was right or wrong; nothing is counted or used up, and the right
    answer afterwards is granted only through the ordinary, charged path."""
    lab = make_lab()
    assert lab.run(None).rc == PAM_SUCCESS    # makes hmac.key: both runs below do the same work
    trace_fault = ";any:%s:PASS" % STORE      # records every store call after the fault rule
    if kind == "pin":
        right = lab.run(RECORD_WRITE + ":" + errno + trace_fault)
        wrong = lab.run(RECORD_WRITE + ":" + errno + trace_fault, pin="not-the-pin")
    elif kind == "code-prompt":
        # A login's record writes: the PIN's charge, the new challenge, its tries, then the
        # code's charge, the one failed here (the rule counts its own matching calls).
        saved = lab.save()
        assert len(ordinals(lab.trace().calls, "write", lambda c: "/users/.alice.tmp." in c.path)) == 5
        lab.restore(saved)
        fault = "%s:%s:4:1%s" % (RECORD_WRITE, errno, trace_fault)
        right = lab.run(fault, codes="RIGHT")
        lab.restore(saved)
        wrong = lab.run(fault, codes="WRONG")
    else:
        mails = lab.smtp.count()
        first = lab.run(None, args="mode=challenge", password=DEFAULT_PIN)
        assert first.rc == PAM_AUTH_ERR and lab.smtp.count() == mails + 1, first.describe()
        code = extract_code(lab.smtp.last())
        good, bad = code, "%06d" % ((int(code) + 1) % 10 ** 6)
        if kind == "recovery-code":
            good = lab.site.cli("recovery-codes", ALICE, "--count", "2", check=True).stdout.split()[0]
            bad = "zzzzz-99999"
        before = lab.site.snapshot()
        right = lab.run(RECORD_WRITE + ":" + errno + trace_fault, args="mode=challenge", password=DEFAULT_PIN + good)
        wrong = lab.run(RECORD_WRITE + ":" + errno + trace_fault, args="mode=challenge", password=DEFAULT_PIN + bad)
        assert lab.site.snapshot() == before, "nothing counted, no try or code used up"
        again = lab.run(None, args="mode=challenge", password=DEFAULT_PIN + good)
        assert again.rc == PAM_SUCCESS, again.describe()
    assert_fails_closed(right, PAM_AUTHINFO_UNAVAIL)
    assert_fails_closed(wrong, PAM_AUTHINFO_UNAVAIL)
    assert any(c.action == errno and "/users/.alice.tmp." in c.path for c in right.calls), right.describe()
    assert seen(right) == seen(wrong), "right:\n%s\nwrong:\n%s" % (right.describe(), wrong.describe())
    if kind != "recovery-code":          # check_record knows the fields of format 1 only
        assert_store_whole(lab.store)
    assert lab.record()["fail_count"] == "0"


# ------------------------------------------------------------------ the code key

@pytest.mark.parametrize("op,errno", [("open", "EACCES"), ("read", "EIO"), ("stat", "EIO")])
@pytest.mark.parametrize("when", ["at-the-mail", "at-the-code"])
def test_unreadable_hmac_key_fails_closed_and_is_not_replaced(lab, op, errno, when):
    """hmac.key exists but cannot be read, when the challenge is opened or when the right
    code is checked: PAM_AUTHINFO_UNAVAIL, and the key is not replaced by a new one (which
    would void every open code)."""
    assert lab.run(None).rc == PAM_SUCCESS         # makes hmac.key
    key_before = lab.site.snapshot()["hmac.key"]
    trace = lab.trace()
    nth = ordinals(trace.calls, op, lambda c: c.path.endswith("/hmac.key"))
    assert len(nth) >= 2, trace.calls
    k = nth[0] if when == "at-the-mail" else nth[-1]
    mails = lab.smtp.count()
    out = lab.run("%s:%s:%s:%d:1" % (op, STORE, errno, k))
    assert_fails_closed(out, PAM_AUTHINFO_UNAVAIL)
    assert out.fired[0].path.endswith("/hmac.key"), out.describe()
    if when == "at-the-mail":
        assert lab.smtp.count() == mails, "a code was mailed without a key to check it"
    else:
        assert out.code_answers == [extract_code(lab.smtp.last())], out.describe()
    assert lab.site.snapshot()["hmac.key"] == key_before
    assert_store_whole(lab.store)


# ------------------------------------------------------------------ making the store

@pytest.mark.parametrize("missing", ["locks", "users", "store"])
def test_failing_mkdir_of_the_store_fails_closed(make_lab, missing):
    """A store directory is missing and cannot be made (read-only file system): never
    PAM_SUCCESS; PAM_AUTHINFO_UNAVAIL. (Without users/ or the store alice has no token.)"""
    lab = make_lab()
    target = lab.store if missing == "store" else os.path.join(lab.store, missing)
    shutil.rmtree(target)
    out = lab.run("mkdir:%s:EROFS" % target)
    assert_fails_closed(out, PAM_AUTHINFO_UNAVAIL)
    assert all(c.op == "mkdir" and c.path == target for c in out.fired), out.describe()
    assert not os.path.exists(target)
    assert lab.smtp.count() == 0


def test_missing_store_with_nullok_is_ignored_without_mkdir(make_lab):
    """The one case where PAM_IGNORE is right: nullok and no store at all (so no token);
    the module does not even try to make the store."""
    lab = make_lab(enroll=False)
    shutil.rmtree(lab.store)
    out = lab.run("mkdir:%s:EROFS" % STORE, args="nullok", direct=True)
    assert out.rc == PAM_IGNORE, out.describe()
    assert out.fired == []


# ------------------------------------------------------------------ the mail transport

def test_mail_dropped_after_data_fails_closed_and_the_leaked_code_is_void(make_lab):
    """The SMTP server takes the whole message after DATA, then drops the connection
    without a reply: PAM_AUTHINFO_UNAVAIL with the mail-failed message, the challenge is
    dropped from the record, and the code that reached the server does not log in
    afterwards (PIN + code in challenge mode)."""
    lab = make_lab(drop="data")
    before = lab.record()
    out = lab.run(None)
    assert out.rc == PAM_AUTHINFO_UNAVAIL, out.describe()
    assert out.errors == [MAIL_FAILED], out.describe()
    leaked = lab.smtp.dropped_messages()
    assert len(leaked) == 1 and lab.smtp.count() == 0
    rec = assert_store_whole(lab.store)["alice"]
    assert rec["challenges"] == [] and rec["mails"] == before["mails"], rec
    again = lab.run(None, args="mode=challenge", password=DEFAULT_PIN + extract_code(leaked[0]))
    assert again.rc not in NOT_CLOSED, again.describe()
    assert again.rc == PAM_AUTH_ERR, again.describe()


def test_mail_server_that_never_answers_data_fails_closed_within_mail_timeout(make_lab):
    """The server takes the message and never replies: the login ends with
    PAM_AUTHINFO_UNAVAIL soon after mail_timeout (1 s here), it does not hang (sshd's
    LoginGraceTime is 120 s; the guard here is 6 s)."""
    lab = make_lab(keys={"mail_timeout": 1}, drop="stall")
    out = lab.run(None, guard=6)
    assert out.rc == PAM_AUTHINFO_UNAVAIL, out.describe()
    assert len(lab.smtp.dropped_messages()) == 1
    assert lab.record()["challenges"] == []


def test_mail_dropped_and_rollback_write_failing_still_fails_closed(make_lab):
    """The mail fails after DATA and the write that drops the challenge again fails too:
    the login is still PAM_AUTHINFO_UNAVAIL and the record whole."""
    lab = make_lab(drop="data")
    saved = lab.save()
    trace = lab.run("any:%s:PASS" % STORE)
    assert trace.rc == PAM_AUTHINFO_UNAVAIL, trace.describe()
    lab.restore(saved)
    k = ordinals(trace.calls, "rename", lambda c: "/users/.alice.tmp." in c.path)
    assert len(k) == 3, trace.calls                 # charge the PIN, open the challenge, drop it again
    out = lab.run("rename:%s:EROFS:%d:1" % (STORE, k[2]))
    assert_fails_closed(out, PAM_AUTHINFO_UNAVAIL)
    assert_store_whole(lab.store)


# ------------------------------------------------------------------ kill -9

# The record writes of a right-code interactive login, in order, and the record after each:
# (open challenges, tries left of the challenge, fail count).
WRITES = ["charge", "trigger", "arm", "code-charge", "grant"]
AFTER = [(0, None, "1"), (1, 0, "0"), (1, 3, "0"), (1, 2, "1"), (0, None, "0")]
BEFORE_ANY = (0, None, "0")
RECORD_TMP = lambda c: "/users/.alice.tmp." in c.path        # noqa: E731
USERS_DIR = lambda c: c.path.endswith("/store/users")        # noqa: E731
# How a write step is reached (op, which call) and which record a kill there leaves: "old"
# (before that write) or "new" (after it).
STEPS = {
    "mid-write": ("write", RECORD_TMP, "old"),
    "before-rename": ("rename", RECORD_TMP, "old"),
    "before-dir-fsync": ("fsync", USERS_DIR, "new"),
}
KILL_POINTS = {"%s-%s" % (phase, step): (phase,) + STEPS[step]
               for phase, steps in [("charge", ["before-rename", "before-dir-fsync"]),
                                    ("trigger", list(STEPS)),
                                    ("arm", ["before-rename", "before-dir-fsync"]),
                                    ("code-charge", ["before-rename", "before-dir-fsync"]),
                                    ("grant", list(STEPS))]
               for step in steps}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_kill_9_at_a_write_step_leaves_the_old_or_the_new_record(lab, point):
    """The authenticating process gets SIGKILL at an exact step of writing the record
    (half the temporary file written; before the rename; after the rename, before the
    directory fsync): the record is the old or the new one, whole, and the next login
    works (no lock or file left that blocks it). A charge that reached the disk stays
    counted (the answer was never compared, or its refund never written)."""
    phase, op, pred, state = KILL_POINTS[point]
    saved = lab.save()
    trace = lab.trace()
    lab.restore(saved)
    ks = ordinals(trace.calls, op, pred)
    assert len(ks) == len(WRITES), (op, trace.calls)
    index = WRITES.index(phase)
    k = ks[index]
    if point.endswith("mid-write"):
        fault = "write:%s:SHORT:%d:1;write:%s:KILL:%d:1" % (STORE, k, STORE, k + 1)
    else:
        fault = "%s:%s:KILL:%d:1" % (op, STORE, k)
    out = lab.run(fault)
    assert out.signal == signal.SIGKILL, out.describe()
    assert out.fired and out.fired[-1].action == "KILL", out.describe()
    rec = assert_store_whole(lab.store, allow_temp=True)["alice"]
    opened, tries, fails = AFTER[index] if state == "new" else (AFTER[index - 1] if index else BEFORE_ANY)
    assert len(rec["challenges"]) == opened, (point, rec)
    if tries is not None:
        assert rec["challenges"][0]["tries_left"] == tries, (point, rec)
    assert rec["fail_count"] == fails, (point, rec)
    again = lab.run(None)
    assert again.rc == PAM_SUCCESS, again.describe()
    assert_store_whole(lab.store, allow_temp=True)


def test_kill_9_at_random_points_during_parallel_logins_never_tears_a_record(make_lab):
    """Rounds of parallel logins of three users (two or three at once per user); most
    processes get SIGKILL at a random store call of theirs. No process hangs, no death
    other than the planned SIGKILL, every record parses after every round, and at the end
    each user logs in normally."""
    lab = make_lab(keys={"concurrent_challenges": "true", "max_open_challenges": 100,
                         "max_fail": 1000, "max_fail_source": 1000})
    users = {ALICE: ALICE_EMAIL, "bob": "bob@example.com", "carol": "carol@example.com"}
    for u, addr in users.items():
        if u != ALICE:
            lab.site.enroll(u, addr)
    seed = int(os.environ.get("EMAILOTP_FAULT_SEED") or random.SystemRandom().randrange(1 << 30))
    rng = random.Random(seed)
    ctx = "EMAILOTP_FAULT_SEED=%d" % seed
    calls_per_login = len(lab.trace().calls)
    kills = 0
    for _round in range(3):
        procs = []
        for i in range(9):
            user = list(users)[i % 3]
            fault = "any:%s:PASS" % STORE
            if rng.random() < 0.75:
                fault = "any:%s:KILL:%d:1" % (STORE, rng.randint(1, calls_per_login))
            env, log = lab.env(fault)
            argv = lab.argv(user=user, codes="RIGHT,RIGHT,RIGHT", mail_to=users[user])
            procs.append((fault, log, subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                                                       stderr=subprocess.PIPE, text=True)))
        for fault, log, p in procs:
            try:
                stdout, stderr = p.communicate(timeout=GUARD)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                pytest.fail("%s: a login hung with EMAILOTP_FAULT=%r" % (ctx, fault))
            fired = [c for c in Lab.calls(log) if c.action == "KILL"]
            if p.returncode == -signal.SIGKILL:
                assert fired, "%s: SIGKILL that the library did not send (%r)" % (ctx, fault)
                kills += 1
            else:
                assert p.returncode == 0 and not fired, \
                    "%s: %r ended with %d:\n%s" % (ctx, fault, p.returncode, stderr[-1500:])
                res = json.loads(stdout.strip().splitlines()[-1])
                assert res["rc"] not in (PAM_IGNORE, PAM_PERM_DENIED), (ctx, res)
        records = assert_store_whole(lab.store, allow_temp=True)
        assert sorted(records) == sorted(users), (ctx, records)
    assert kills >= 9, "%s: only %d processes were killed" % (ctx, kills)
    for u, addr in users.items():
        out = lab.run(None, user=u, mail_to=addr)
        assert out.rc == PAM_SUCCESS, "%s: %s" % (ctx, out.describe())


# ------------------------------------------------------------------ malloc

def test_allocation_failure_in_module_never_grants(lab):
    """One allocation made by the module's code fails (sampled over a whole right-code
    login, and around the write that grants): never PAM_SUCCESS; the process dies (the
    Swift runtime does not survive a failed allocation) or returns a PAM error; the
    store stays whole."""
    saved = lab.save()
    trace = lab.run("any:%s:PASS;malloc:pam_emailotp:PASS" % STORE)
    assert trace.rc == PAM_SUCCESS, trace.describe()
    lab.restore(saved)
    mallocs = 0
    grant_rename_at = None
    for c in trace.calls:
        if c.op == "malloc":
            mallocs = c.n
        elif c.op == "rename" and "/users/" in c.path:
            grant_rename_at = mallocs           # allocations made before the last rename
    assert mallocs > 50 and grant_rename_at, "too few allocations seen: %d" % mallocs
    sample = sorted({1, 2, 3} | {mallocs * i // 12 for i in range(1, 12)} |
                    {grant_rename_at - 2, grant_rename_at, grant_rename_at + 1, mallocs})
    for n in sample:
        out = lab.run("malloc:pam_emailotp:ENOMEM:%d:1" % n)
        assert out.fired, out.describe()
        assert out.rc not in NOT_CLOSED, out.describe()
        assert_store_whole(lab.store, allow_temp=out.rc is None)
        lab.restore(saved)


def test_allocation_failure_in_openssl_while_checking_a_wrong_code_never_grants(lab):
    """Each allocation OpenSSL makes while the module computes and compares the code's
    HMAC (under the user's lock, before the write) fails in turn, and wrong codes are
    answered: PAM_AUTH_ERR every time, never PAM_SUCCESS, no crash."""
    assert lab.run(None).rc == PAM_SUCCESS           # hmac.key exists, OpenSSL is warm
    saved = lab.save()
    trace = lab.run("flock:/locks/alice:PASS;rename:/users/:PASS;malloc:libcrypto:PASS")
    assert trace.rc == PAM_SUCCESS, trace.describe()
    lab.restore(saved)
    flocks = [i for i, c in enumerate(trace.calls) if c.op == "flock"]
    renames = [i for i, c in enumerate(trace.calls) if c.op == "rename"]
    verify = [c.n for c in trace.calls[flocks[-1]:renames[-1]] if c.op == "malloc"]
    assert verify, "OpenSSL made no allocation while the code was checked: %r" % trace.calls
    for n in verify:
        out = lab.run("malloc:libcrypto:ENOMEM:%d:1" % n, codes="WRONG,WRONG,WRONG")
        assert_fails_closed(out, PAM_AUTH_ERR)
        assert_store_whole(lab.store)
        lab.restore(saved)


def test_allocation_failure_while_the_module_loads_never_grants(lab):
    """Each allocation made while libpam loads the module (the Swift runtime registering
    the image, before any module code runs), failed in turn: never PAM_SUCCESS. The Swift
    runtime does not survive these (it may even fault on the NULL), so any death of the
    process counts as failing closed here; the store is not touched."""
    trace = lab.run("loadmalloc:pam_emailotp:PASS")
    assert trace.rc == PAM_SUCCESS, trace.describe()
    total = len(trace.calls)
    assert total >= 1, "no allocation seen while the module loads"
    before = lab.site.snapshot()
    for n in range(1, min(total, 12) + 1):
        out = lab.run("loadmalloc:pam_emailotp:ENOMEM:%d:1" % n)
        assert out.fired, out.describe()
        assert out.rc not in NOT_CLOSED, out.describe()
        assert lab.site.snapshot() == before
