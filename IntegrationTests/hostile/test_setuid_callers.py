"""Real su, sudo and chfn run by an unprivileged caller who chose their environment, resource
limits, signal dispositions and descriptors: whatever the caller did, every wrong code is
charged (or never evaluated), a grant needs the right code, nothing outside the store is
created or changed, the mail goes where the configuration says, and later logins of this and
other users go on (pam_emailotp(8), PROCESS MODEL)."""

import os

import pexpect
import pytest

import svc
from lib.flows import ANY_OTP_PROMPT  # sudo passes PAM_SILENT: the prompt says where the code went
from hostilecaller import (Caller, Drive, fail_count, later_logins_work, mails_went_where_configured, record_size,
                          root_can_raise_limits)

pytestmark = pytest.mark.hostile

STACK = ("auth sufficient pam_rootok.so\n"
         "auth required pam_emailotp.so config=%s\n"
         "account required pam_permit.so\n"
         "password required pam_permit.so\n"
         "session required pam_permit.so\n")


def program_argv(tmp_path, site, program, caller, target, command):
    """The namespace argv that runs `command` (a shell line) as `caller` with `program`'s PAM
    file (and sudo's sudoers) bound over the real ones."""
    pam = svc.write_file(tmp_path / ("pam." + program), STACK % site.config)
    binds = [(pam, "/etc/pam.d/" + program)]
    if program != "su":
        binds.append((svc.write_file(tmp_path / "pam.su", STACK % site.config), "/etc/pam.d/su"))
    if program == "sudo":
        sudoers = svc.write_file(tmp_path / "sudoers", "\n".join([
            "Defaults env_reset", "Defaults timestamp_timeout=0", "Defaults lecture=never",
            "Defaults passwd_tries=1", "root ALL=(ALL:ALL) ALL", "%s ALL=(ALL:ALL) ALL" % caller.name, ""]), 0o440)
        binds.append((sudoers, "/etc/sudoers"))
    return svc.ns_argv(binds, ["su", "--pty", caller.name, "-c", command])


PROGRAMS = {
    # program: (inner command, who logs in, what a grant prints)
    "su": ("su {target} -c 'echo ran-as-$(id -un)'", "target", "ran-as-{target}"),
    "sudo": ("sudo /bin/sh -c 'echo ran-as-$(id -un)'", "caller", "ran-as-root"),
    "chfn": ("chfn -r 42", "caller", "exit-status-0"),
}

SIGNALS = ["SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM",
           "SIGCHLD", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF"]

INF = -1   # resource.RLIM_INFINITY
# A hard limit the caller lowered is raised again where root holds CAP_SYS_RESOURCE; where it
# does not (some containers), the helper refuses and nothing is evaluated.
RAISABLE = root_can_raise_limits()

# condition: (spec for hostile_exec.py from the record's size, the flow must reach the code and grant)
CONDITIONS = {
    "environment": (lambda size: {}, True),
    "fsize-0": (lambda size: {"limits": {"FSIZE": [0, 0]}, "ignore": ["SIGXFSZ"]}, RAISABLE),
    "fsize-0-soft": (lambda size: {"limits": {"FSIZE": [0, INF]}, "ignore": ["SIGXFSZ"]}, True),
    "fsize-under-record": (lambda size: {"limits": {"FSIZE": [size - 1, size - 1]}, "ignore": ["SIGXFSZ"]}, RAISABLE),
    "nofile": (lambda size: {"limits": {"NOFILE": [12, 12]}}, False),
    "as": (lambda size: {"limits": {"AS": [96 << 20, 96 << 20]}}, False),
    "nproc": (lambda size: {"limits": {"NPROC": [1, 1]}}, False),
    "cpu": (lambda size: {"limits": {"CPU": [1, 1]}, "ignore": ["SIGXCPU"]}, RAISABLE),
    "signals": (lambda size: {"ignore": SIGNALS, "block": "all"}, True),
    "closed-stdin": (lambda size: {"close": [0]}, False),
}


@pytest.mark.parametrize("condition", list(CONDITIONS))
@pytest.mark.parametrize("program", list(PROGRAMS))
def test_hostile_caller(program, condition, tmp_path, site, tls_smtp, users, spawn):
    caller, target, other = users.create(), users.create(), users.create()
    for u in (caller, target, other):
        site.enroll(u.name, u.email, pin=svc.PIN)
    inner, who, done = PROGRAMS[program]
    user = target if who == "target" else caller
    done = done.format(target=target.name)
    hostile = Caller(tmp_path, caller)
    try:
        make_spec, must_work = CONDITIONS[condition]
        spec = hostile.spec(tmp_path, **make_spec(record_size(site, user.name)))
        argv = program_argv(tmp_path, site, program, caller, target,
                            hostile.command(spec, inner.format(target=target.name)))
        drive = Drive(spawn(argv), site, tls_smtp, user, done).run()
        if must_work:
            assert drive.reached_code, "the login never asked for the code"
            assert drive.granted, "the right code after a wrong one did not run the program"
        if drive.reached_code:
            assert drive.charged, "a wrong code was not charged before it was checked"
            if drive.second_prompt:
                assert drive.module_granted, "the right code after a wrong one was refused"
        else:
            assert not drive.granted and fail_count(site, user.name) == 0, "granted or charged without the code"
        if drive.granted:
            assert drive.module_granted
        hostile.check_untouched()
        mails_went_where_configured(tls_smtp, [user.email])
        later_logins_work(site, user.name, other.name)
    finally:
        hostile.close()


def inner_su_pid(caller):
    """The caller's su (real uid the caller's, effective root): the process the caller may stop."""
    import subprocess
    for _ in range(200):
        p = subprocess.run(["pgrep", "-U", str(caller.uid), "-x", "su"], capture_output=True, text=True)
        pids = [int(x) for x in p.stdout.split()]
        if pids:
            return pids[-1]
        import time
        time.sleep(0.05)
    raise AssertionError("no su of the caller")


@pytest.mark.parametrize("step", ["pin-prompt", "code-prompt", "after-wrong-code"])
@pytest.mark.parametrize("signal_name", ["SIGSTOP", "SIGKILL"])
def test_caller_stops_or_kills_its_su(step, signal_name, tmp_path, site, tls_smtp, users, spawn):
    """SIGSTOP (then SIGCONT) or SIGKILL of the caller's su at each step: nothing stays locked,
    the helper does not outlive its deadline, counts stay true."""
    import signal
    caller, target, other = users.create(), users.create(), users.create()
    for u in (target, other):
        site.enroll(u.name, u.email, pin=svc.PIN)
    hostile = Caller(tmp_path, caller)
    try:
        spec = hostile.spec(tmp_path)
        argv = program_argv(tmp_path, site, "su", caller, target,
                            hostile.command(spec, "su %s -c 'echo ran-as-$(id -un)'" % target.name))
        c = spawn(argv)
        c.expect("PIN: ")
        code = None
        if step != "pin-prompt":
            c.sendline(svc.PIN)
            c.expect(ANY_OTP_PROMPT)
            from lib.mail import extract_code
            code = extract_code(svc.mails_to(tls_smtp, target.email)[-1])
        if step == "after-wrong-code":
            c.sendline(svc.wrong_code(code))
            c.expect(ANY_OTP_PROMPT)
        fails = fail_count(site, target.name)
        su = inner_su_pid(caller)
        os.kill(su, getattr(signal, signal_name))
        # Meanwhile: another user logs in, and purge takes every user's lock (the stopped
        # login's own user too) without waiting for the stopped su.
        later_logins_work(site, other.name)
        p = site.cli("purge", timeout=60)
        assert p.returncode == 0, p.stderr
        if signal_name == "SIGSTOP":
            os.kill(su, signal.SIGCONT)
            if step == "pin-prompt":
                c.sendline(svc.PIN)
                c.expect(ANY_OTP_PROMPT)
                from lib.mail import extract_code
                code = extract_code(svc.mails_to(tls_smtp, target.email)[-1])
            c.sendline(code)
            c.expect(["exit-status-", pexpect.EOF], timeout=60)
            granted = ("ran-as-%s" % target.name) in c.seen()
            assert granted, "the right code after SIGCONT was refused"
        else:
            c.expect(["exit-status-", pexpect.EOF], timeout=60)
            assert ("ran-as-%s" % target.name) not in c.seen()
        assert fail_count(site, target.name) in (fails, 0)
        hostile.check_untouched()
        later_logins_work(site, target.name, other.name)
    finally:
        hostile.close()
