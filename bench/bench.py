#!/usr/bin/python3
"""What one authentication through pam_emailotp costs, against peers measured in the same run.

    sudo bench/bench.py [--rounds N]

Every case is a real PAM transaction through libpam (pam_start_confdir, in this process):
  pam_permit        libpam's own floor: load the stack, call one module
  pam_unix          the usual first factor: a yescrypt password check (temporary user)
  emailotp/maildir  pam_emailotp interactive: PIN (yescrypt) + code mailed into a Maildir + code
  emailotp/smtp     the same, the code sent over SMTP to a loopback aiosmtpd server
  emailotp/step1    pam_emailotp challenge mode, first step (PIN alone, code mailed, denied)
and the cold load of the module (dlopen of a fresh copy) against pam_unix.so's.
The report gives medians and the ratio to pam_unix, the peer an administrator already runs.
No timing is asserted anywhere: this is a measurement, not a test.
"""
import argparse
import ctypes
import os
import pathlib
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))
from lib.env import TestSite, module_dir, module_path  # noqa: E402
from lib.mail import extract_code  # noqa: E402
from lib.pamdriver import PAM_AUTH_ERR, PAM_SUCCESS, authenticate  # noqa: E402
from lib.smtp_capture import SMTPCapture  # noqa: E402

PIN = "bench-PIN-2026"


def timed(rounds, once):
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        once()
        samples.append(time.perf_counter() - start)
    return samples


def expect(result, rc):
    if result.rc != rc:
        raise SystemExit("bench: unexpected PAM result: %s" % result.describe())


def newest_code(maildir):
    files = sorted(pathlib.Path(maildir, "new").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    import email
    import email.policy
    return extract_code(email.message_from_bytes(files[-1].read_bytes(), policy=email.policy.default))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root")
    work = pathlib.Path(tempfile.mkdtemp(prefix="emailotp-bench."))
    user = "eotpb_" + secrets.token_hex(3)
    password = "Unix-" + secrets.token_hex(8)
    results = {}
    try:
        subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", user], check=True)
        subprocess.run(["chpasswd"], input="%s:%s\n" % (user, password), text=True, check=True)
        common = dict(max_mails_per_hour=1000, resend_interval=0, max_fail=1000)

        results["pam_permit"] = timed(args.rounds, lambda: expect(
            authenticate(user, "auth required pam_permit.so\n", [], fork=False), PAM_SUCCESS))
        results["pam_unix"] = timed(args.rounds, lambda: expect(
            authenticate(user, "auth required pam_unix.so\n", [password], fork=False), PAM_SUCCESS))

        maildir = work / "maildir"
        site = TestSite(work, name="maildir", keys=dict(common, mail_transport="maildir:%s" % maildir))
        site.enroll(user, "bench@example.org", pin=PIN)
        results["emailotp/maildir"] = timed(args.rounds, lambda: expect(
            site.authenticate(user, [PIN, lambda: newest_code(maildir)], fork=False), PAM_SUCCESS))
        results["emailotp/step1"] = timed(args.rounds, lambda: expect(
            site.authenticate(user, [PIN], args="mode=challenge", fork=False), PAM_AUTH_ERR))

        with SMTPCapture(work / "smtp") as smtp:
            site2 = TestSite(work, name="smtp", smtp=smtp, keys=common)
            site2.enroll(user, "bench@example.org", pin=PIN)
            results["emailotp/smtp"] = timed(args.rounds, lambda: expect(
                site2.authenticate(user, [PIN, lambda: extract_code(smtp.last())], fork=False), PAM_SUCCESS))

        loads = {}
        for name, source in (("load pam_unix.so", os.path.join(module_dir(), "pam_unix.so")),
                             ("load pam_emailotp.so", module_path())):
            copies = []
            for index in range(min(args.rounds, 10)):
                copy = work / ("copy%d-%s" % (index, os.path.basename(source)))
                shutil.copyfile(source, copy)
                copies.append(copy)
            samples = []
            for copy in copies:
                start = time.perf_counter()
                ctypes.CDLL(str(copy), mode=os.RTLD_NOW | os.RTLD_LOCAL)
                samples.append(time.perf_counter() - start)
            loads[name] = samples
    finally:
        subprocess.run(["userdel", user], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)

    base = statistics.median(results["pam_unix"])
    print("pam_emailotp benchmark: %d rounds each, medians, same run (%s)" % (args.rounds, time.strftime("%Y-%m-%d")))
    print("%-22s %10s %14s" % ("case", "median ms", "x pam_unix"))
    for name, samples in results.items():
        median = statistics.median(samples)
        print("%-22s %10.2f %14.2f" % (name, median * 1000, median / base))
    unix_load = statistics.median(loads["load pam_unix.so"])
    for name, samples in loads.items():
        median = statistics.median(samples)
        print("%-22s %10.2f %14.2f   (x pam_unix.so load)" % (name, median * 1000, median / unix_load))


if __name__ == "__main__":
    main()
