"""The setuid helper run by an application that is not root (a member of helper_group), with
the caller's limits, environment and claims: charged answers under RLIMIT_FSIZE, claims of
service and remote host kept apart from root's services, a bound on concurrent helpers and a
deadline on the request, no stale temporary files, no SWIFT_* variable honoured."""

import grp
import json
import os
import resource
import secrets
import signal
import subprocess
import time

import pytest

import svc
from hostilecaller import HELPER, Caller, WRAPPER, fail_count, record_size, root_can_raise_limits
from lib.mail import extract_code, text_body


pytestmark = pytest.mark.hostile

SIGNALS_TO_IGNORE = ["SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGCHLD",
                     "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGXCPU", "SIGXFSZ"]

PAM_SUCCESS, PAM_SERVICE_ERR, PAM_AUTH_ERR = 0, 3, 7


@pytest.fixture
def app(site, users):
    """An application user in helper_group; removed with its group at the end."""
    group = "eotp-web-" + secrets.token_hex(3)
    subprocess.run(["groupadd", group], check=True)
    user = users.create(password=False)
    subprocess.run(["usermod", "-aG", group, user.name], check=True)
    site.write_config(helper_group=group)
    yield user
    subprocess.run(["groupdel", group], stderr=subprocess.DEVNULL)


@pytest.fixture
def confdir(tmp_path, site):
    """A PAM configuration directory the application can read: service files for pamrun."""
    d = tmp_path / "pamconf"
    d.mkdir(mode=0o755)
    for service in ("webapp", "sshd"):
        svc.write_file(d / service, "auth required %s mode=challenge\naccount required pam_permit.so\n" % site.module)
    return d


def as_app(site, app, argv, spec=None, **kw):
    """argv run as the application user, with the site's directory as /etc/security (the
    helper reads only the system configuration for such callers)."""
    inner = ["setpriv", "--reuid", app.name, "--regid", app.name, "--init-groups", "--"]
    if spec is not None:
        inner += ["/usr/bin/python3", str(WRAPPER), str(spec), "--"]
    full = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-ec",
            'mount --bind "$0" /etc/security; exec "$@"', str(site.dir)] + inner + [str(a) for a in argv]
    return full


def pamrun_as_app(site, app, pamrun, confdir, user, answers, service="webapp", rhost=None, spec=None):
    argv = [pamrun] + (["--rhost", rhost] if rhost else []) + [confdir, service, user] + list(answers)
    p = subprocess.run(as_app(site, app, argv, spec), capture_output=True, text=True, timeout=120,
                       env={"PATH": "/usr/bin:/bin"})
    return p.returncode, p.stdout + p.stderr


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_fsize_zero_is_no_pin_oracle(hard, site, tls_smtp, app, pamrun, confdir, users, tmp_path, syslog):
    """RLIMIT_FSIZE 0 with SIGXFSZ ignored: a wrong PIN is counted, or (a hard limit that
    cannot be raised) nothing is evaluated and the right PIN is answered alike."""
    victim = users.create()
    site.enroll(victim.name, victim.email, pin=svc.PIN)
    caller = Caller(tmp_path, app)
    try:
        spec = caller.spec(tmp_path, env={"PATH": "/usr/bin:/bin"}, limits={"FSIZE": [0, 0 if hard else -1]},
                           ignore=["SIGXFSZ"])
        wrong, out = pamrun_as_app(site, app, pamrun, confdir, victim.name, ["wrong-PIN"], spec=spec)
        right, out2 = pamrun_as_app(site, app, pamrun, confdir, victim.name, [svc.PIN], spec=spec)
        if fail_count(site, victim.name) == 1:
            assert wrong == PAM_AUTH_ERR, out
            assert len(svc.mails_to(tls_smtp, victim.email)) == 1, out2
        else:
            assert hard and not root_can_raise_limits(), "a wrong PIN was not counted: " + out + syslog.text()
            assert wrong == right == PAM_SERVICE_ERR and fail_count(site, victim.name) == 0
            assert svc.mails_to(tls_smtp, victim.email) == []
            assert "RLIMIT_FSIZE is below what a login needs" in syslog.text()
    finally:
        caller.close()


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_fsize_under_the_record_charges_every_wrong_code(hard, site, tls_smtp, app, pamrun, confdir, users, tmp_path):
    victim = users.create()
    site.enroll(victim.name, victim.email, pin=svc.PIN)
    rc, out = pamrun_as_app(site, app, pamrun, confdir, victim.name, [svc.PIN])
    code = extract_code(svc.mails_to(tls_smtp, victim.email)[-1])
    caller = Caller(tmp_path, app)
    try:
        size = record_size(site, victim.name)
        spec = caller.spec(tmp_path, env={"PATH": "/usr/bin:/bin"},
                           limits={"FSIZE": [size - 1, size - 1 if hard else -1]}, ignore=["SIGXFSZ"])
        evaluated = not hard or root_can_raise_limits()
        for n in range(1, 3):
            rc, out = pamrun_as_app(site, app, pamrun, confdir, victim.name, [svc.PIN + svc.wrong_code(code)], spec=spec)
            assert rc != PAM_SUCCESS, out
            assert fail_count(site, victim.name) == (n if evaluated else 0), "wrong code %d: charged or not evaluated" % n
        rc, out = pamrun_as_app(site, app, pamrun, confdir, victim.name, [svc.PIN + code], spec=spec)
        assert rc == (PAM_SUCCESS if evaluated else PAM_SERVICE_ERR), out
    finally:
        caller.close()


def test_claimed_service_and_rhost_never_serve_roots_services(site, tls_smtp, app, pamrun, confdir, users, syslog):
    """The application claims sshd from 10.9.9.9 and logs the user in with PIN + code: neither
    the remembered host nor the cached grant lets root's sshd skip the code."""
    victim = users.create()
    site.enroll(victim.name, victim.email, pin=svc.PIN)
    site.write_config(remember=600, auth_cache=600)
    rc, out = pamrun_as_app(site, app, pamrun, confdir, victim.name, [svc.PIN], service="sshd", rhost="10.9.9.9")
    mail = svc.mails_to(tls_smtp, victim.email)[-1]
    assert "claimed by uid %d" % app.uid in text_body(mail), text_body(mail)
    code = extract_code(mail)
    rc, out = pamrun_as_app(site, app, pamrun, confdir, victim.name, [svc.PIN + code], service="sshd", rhost="10.9.9.9")
    assert rc == PAM_SUCCESS, out
    log = syslog.text()
    assert "claimed by uid %d" % app.uid in log and "application " in log, log
    # root's sshd, pin=none (its first factor elsewhere): a code is asked, not a remembered host
    res = site.authenticate(victim.name, lambda style, text: None, args="pin=none", service="sshd", rhost="10.9.9.9")
    assert res.rc != PAM_SUCCESS, res.describe()
    assert "remembered remote host" not in syslog.text()
    # root's sshd in challenge mode with the same password: no cached grant of the application
    res = site.authenticate(victim.name, [svc.PIN + code], args="mode=challenge", service="sshd", rhost="10.9.9.9")
    assert res.rc != PAM_SUCCESS, res.describe()
    assert "granted from auth_cache" not in syslog.text()


def test_helpers_of_one_caller_are_bounded_and_their_request_has_a_deadline(site, app, users):
    """Twelve helpers on one stdin that the caller never writes to or closes: the slots past the
    bound are refused at once, the others end at the request deadline, none stays."""
    r, w = os.pipe()
    procs = []
    try:
        for _ in range(12):
            procs.append(subprocess.Popen(as_app(site, app, [HELPER, "login"]), stdin=r,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          env={"PATH": "/usr/bin:/bin"}))
        # A bound on the wait, far above the 10 s request deadline (a loaded CI machine).
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and any(p.poll() is None for p in procs):
            time.sleep(0.2)
        running = [p for p in procs if p.poll() is None]
        assert not running, "%d helpers still wait for their request" % len(running)
    finally:
        os.close(w)
        os.close(r)
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def test_stale_temporary_files_are_removed(site, app, pamrun, confdir, users):
    victim = users.create()
    site.enroll(victim.name, victim.email, pin=svc.PIN)
    stale = site.store / "users" / (".%s.tmp.%d" % (victim.name, 4194303))
    stale.write_text("")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    pamrun_as_app(site, app, pamrun, confdir, victim.name, ["wrong-PIN"])
    assert not stale.exists(), "a killed writer's temporary file stayed"


def test_swift_variables_are_not_honoured(site, app):
    p = subprocess.run(as_app(site, app, ["/usr/bin/env", "SWIFT_DEBUG_HELP=YES", "SWIFT_BACKTRACE=enable=yes",
                                          HELPER, "login"]),
                       input=b"", capture_output=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    out = (p.stdout + p.stderr).decode(errors="replace")
    assert "SWIFT_DEBUG" not in out and "environment variables" not in out.lower(), out


def test_hostile_environment_reaches_nothing(site, tls_smtp, app, pamrun, confdir, users, tmp_path):
    victim = users.create()
    site.enroll(victim.name, victim.email, pin=svc.PIN)
    caller = Caller(tmp_path, app)
    try:
        spec = caller.spec(tmp_path)
        rc, out = pamrun_as_app(site, app, pamrun, confdir, victim.name, [svc.PIN], spec=spec)
        assert len(svc.mails_to(tls_smtp, victim.email)) == 1, out
        caller.check_untouched()
    finally:
        caller.close()


# The syscalls of a helper that waits for its request on standard input (x86_64: read, poll, ppoll).
WAITING = {"x86_64": {0, 7, 271}, "aarch64": {63, 73}}.get(os.uname().machine, set())


def waiting_helper(proc):
    """The pid of the helper under `proc` (the wrapper execs it; su-less, so the pid is the same)
    once it blocks reading its request, or fails after a bound."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if os.readlink("/proc/%d/exe" % proc.pid).endswith("emailotp-helper"):
                number = open("/proc/%d/syscall" % proc.pid).read().split()[0]
                if number.isdigit() and int(number) in WAITING:
                    return proc.pid
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("the helper never waited for its request (exit %s)" % proc.poll())


def process_state(pid):
    status = dict(line.split(":", 1) for line in open("/proc/%d/status" % pid).read().splitlines() if ":" in line)
    limits = {}
    for line in open("/proc/%d/limits" % pid).read().splitlines()[1:]:
        name, soft, hard = line[:26].strip(), line[26:47].strip(), line[47:68].strip()
        limits[name] = (soft, hard)
    fds = {int(fd): os.readlink("/proc/%d/fd/%s" % (pid, fd)) for fd in os.listdir("/proc/%d/fd" % pid)}
    return {k: v.strip() for k, v in status.items()}, limits, fds


@pytest.mark.parametrize("who", ["application", "root"])
def test_the_helper_sanitises_itself_whoever_starts_it(who, site, app, tmp_path):
    """Started directly with a hostile environment, one of the caller's files left open, every
    signal ignored and blocked, soft limits lowered and umask 0 — setuid by an application
    (AT_SECURE), or by root (no AT_SECURE: as the module's clean child execs it) — the helper,
    while it waits for its request, has none of it left, and the Swift runtime honoured no
    SWIFT_* variable. The one sanitiser is the helper's constructor (CShim/helper/start.c)."""
    caller = Caller(tmp_path, app)
    try:
        left_open = caller.home / ".netrc"
        hard_nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        spec = caller.spec(tmp_path, env={"PATH": "/usr/bin:/bin", "SWIFT_DEBUG_HELP": "YES", "SWIFT_BACKTRACE": "enable=yes"},
                           open=[str(left_open)], ignore=SIGNALS_TO_IGNORE, block="all", umask=0,
                           limits={"FSIZE": [0, -1], "CPU": [100, -1], "NOFILE": [64, hard_nofile]})
        if who == "application":
            argv = as_app(site, app, [HELPER, "login"], spec)
        else:
            argv = ["/usr/bin/python3", str(WRAPPER), str(spec), "--", HELPER, "login", "config=%s" % site.config]
        r, w = os.pipe()
        proc = subprocess.Popen(argv, stdin=r, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env={"PATH": "/usr/bin:/bin"})
        try:
            pid = waiting_helper(proc)
            status, limits, fds = process_state(pid)
        finally:
            os.close(w)
            os.close(r)
            out = proc.communicate(timeout=60)[1].decode(errors="replace")
        assert int(status["SigBlk"], 16) == 0, status["SigBlk"]
        assert int(status["SigIgn"], 16) == 1 << (signal.SIGPIPE - 1), "only SIGPIPE ignored: " + status["SigIgn"]
        assert status["Umask"] == "0077", status["Umask"]
        assert limits["Max file size"][0] == "unlimited", limits
        assert limits["Max cpu time"][0] == "unlimited", limits
        assert limits["Max open files"][0] == "1024", limits
        assert {0, 1, 2} <= set(fds), fds
        extra = {fd: target for fd, target in fds.items() if fd > 2 and not target.startswith("/run/emailotp/")}
        assert extra == {}, "descriptors the caller handed down: %r" % extra
        assert "SWIFT_DEBUG" not in out and "environment variables" not in out.lower(), out
    finally:
        caller.close()
