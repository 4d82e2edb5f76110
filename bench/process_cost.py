#!/usr/bin/python3
"""What running the login outside a setuid application's process costs (pam_emailotp(8), PROCESS
MODEL): one sudo-like PAM transaction per fresh process, a setuid-root copy of bench/pamrun run
by an unprivileged user (the clean-process path: fork + exec of the helper) beside the same
transaction run by root (the in-process path of root's daemons, and of setuid applications
before the clean process), the unenrolled nullok path, and pam_permit, interleaved.

    sudo bench/process_cost.py [--rounds N] [--results PATH|-]

Appends (or replaces) the "Clean process" section of bench/RESULTS.md. No timing is asserted.
The transaction measured is a challenge-mode first step with pin=none whose open challenge is
re-used (config, store lock, record read-modify-write, no mail, no PIN hash), so that the
separation's own cost is not hidden behind yescrypt; a wrong PIN (one yescrypt) is measured too.
"""
import argparse
import os
import pathlib
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
PIN = "bench-PIN-2026"
NAMESPACE_FLAG = "EMAILOTP_BENCH_NAMESPACE"
MARK = "## Clean process: what the separation costs"


def run_as(uid, gid, argv):
    """Wall time and exit status of one fresh process started as uid/gid (fork, set ids, exec:
    the same launcher for every case)."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            null = os.open("/dev/null", os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(null, 2)
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    return time.perf_counter() - start, os.waitstatus_to_exitcode(status)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("process_cost: run as root")
    if not os.environ.get(NAMESPACE_FLAG):
        os.environ[NAMESPACE_FLAG] = "1"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "--",
                              sys.executable, str(pathlib.Path(__file__).resolve())] + sys.argv[1:])
    sys.path.insert(0, str(HERE.parent / "IntegrationTests"))
    from lib.env import TestSite

    work = pathlib.Path(tempfile.mkdtemp(prefix="emailotp-bench-process."))
    os.chmod(work, 0o755)
    user = "eotpb_" + secrets.token_hex(3)
    started = time.monotonic()
    try:
        if os.path.exists("/dev/log"):
            subprocess.run(["mount", "--bind", "/dev/null", "/dev/log"], check=True)
        subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", user], check=True)
        import pwd
        caller = pwd.getpwnam(user)
        pamrun = work / "pamrun"
        subprocess.run(["cc", "-O2", "-o", str(pamrun), str(HERE / "pamrun.c"), "-lpam"], check=True)
        setuid = work / "pamrun-setuid"
        shutil.copyfile(pamrun, setuid)
        os.chown(setuid, 0, 0)
        os.chmod(setuid, 0o4755)
        os.chmod(pamrun, 0o755)
        maildir = work / "maildir"
        site = TestSite(work, keys={"mail_transport": "maildir:%s" % maildir, "max_fail": 1000,
                                    "resend_interval": 3600, "max_mails_per_hour": 1000})
        site.enroll(user, "bench@example.org", pin=PIN)
        site.enroll("nopin-" + user, "bench@example.org", pin=None)
        confdir = work / "pam.d"
        confdir.mkdir(mode=0o755)
        module = site.module

        def service(name, text):
            (confdir / name).write_text(text)
            os.chmod(confdir / name, 0o644)
            return name

        permit = service("permit", "auth required pam_permit.so\n")
        nullok = service("nullok", "auth required %s config=%s nullok pin=none\nauth required pam_permit.so\n" % (module, site.config))
        reuse = service("reuse", "auth required %s config=%s mode=challenge pin=none\n" % (module, site.config))
        wrong = service("wrongpin", "auth required %s config=%s mode=challenge\n" % (module, site.config))
        # the challenge the re-use case finds open
        first = subprocess.run([str(pamrun), str(confdir), reuse, "nopin-" + user, ""], capture_output=True, text=True)
        assert first.returncode == 7, first

        root, plain = (0, 0), (caller.pw_uid, caller.pw_gid)
        cases = {
            "pam_permit (setuid, user)": (plain, [str(setuid), str(confdir), permit, user], 0),
            "unenrolled, nullok (setuid, user)": (plain, [str(setuid), str(confdir), nullok, "nobody-" + user], 0),
            "challenge re-used, in-process (root)": (root, [str(pamrun), str(confdir), reuse, "nopin-" + user, ""], 7),
            "challenge re-used, clean process (setuid, user)": (plain, [str(setuid), str(confdir), reuse, "nopin-" + user, ""], 7),
            "wrong PIN, in-process (root)": (root, [str(pamrun), str(confdir), wrong, user, "wrong"], 7),
            "wrong PIN, clean process (setuid, user)": (plain, [str(setuid), str(confdir), wrong, user, "wrong"], 7),
        }
        samples = {name: [] for name in cases}
        for (ids, argv, rc) in cases.values():
            run_as(ids[0], ids[1], argv)
        for round_number in range(args.rounds):
            if round_number % 100 == 99:
                site.cli("reset", user, check=True)
            for name, (ids, argv, rc) in cases.items():
                seconds, got = run_as(ids[0], ids[1], argv)
                if got != rc:
                    raise SystemExit("process_cost: %s exited %d, expected %d" % (name, got, rc))
                samples[name].append(seconds * 1000)
    finally:
        subprocess.run(["userdel", user], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)

    base = statistics.median(samples["pam_permit (setuid, user)"])
    lines = [MARK, "",
             "Written by `bench/process_cost.py` (%s, %.0f s). Command:" % (
                 time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), time.monotonic() - started), "",
             "    sudo bench/process_cost.py --rounds %d" % args.rounds, "",
             "Machine: %d CPUs, %s, load average at the end %s." % (
                 os.cpu_count(), platform.platform(), " ".join("%.2f" % x for x in os.getloadavg())), "",
             "One fresh process per PAM transaction (bench/pamrun; fail delay off), %d rounds, interleaved. "
             "\"setuid, user\": a setuid-root copy of pamrun run by an unprivileged user, as sudo runs: the "
             "module forks and execs the helper (clean process), except for the unenrolled nullok answer, "
             "given in-process. \"root\": the same binary run by root, the in-process path of sshd "
             "(and of setuid applications before the clean process)." % args.rounds, "",
             "| case | median ms | p90 ms | x pam_permit |", "|---|---:|---:|---:|"]
    for name, values in samples.items():
        ordered = sorted(values)
        p90 = ordered[int(round(0.9 * (len(ordered) - 1)))]
        lines.append("| %s | %.2f | %.2f | %.2f |" % (name, statistics.median(values), p90, statistics.median(values) / base))
    inproc = statistics.median(samples["challenge re-used, in-process (root)"])
    clean = statistics.median(samples["challenge re-used, clean process (setuid, user)"])
    lines += ["", "The separation costs %.2f ms per transaction (clean %.2f ms / in-process %.2f ms = %.2fx) "
              "on the re-used challenge; with one yescrypt (wrong PIN) the ratio is %.2fx." % (
                  clean - inproc, clean, inproc, clean / inproc,
                  statistics.median(samples["wrong PIN, clean process (setuid, user)"])
                  / statistics.median(samples["wrong PIN, in-process (root)"])), ""]
    text = "\n".join(lines)
    print(text)
    if args.results != "-":
        path = pathlib.Path(args.results)
        old = path.read_text() if path.exists() else ""
        if MARK in old:
            old = old[:old.index(MARK)].rstrip() + "\n"
        path.write_text(old.rstrip() + "\n\n" + text)


if __name__ == "__main__":
    main()
