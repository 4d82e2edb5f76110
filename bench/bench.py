#!/usr/bin/python3
"""What pam_emailotp costs, against peers measured in the same run; writes bench/RESULTS.md.

    sudo bench/bench.py [--rounds N] [--module SO] [--emailotp BIN] [--results PATH|-]

Defaults: the installed module (<dir of pam_unix.so>/pam_emailotp.so) and /usr/local/sbin/emailotp;
--module/--emailotp measure a build that is not installed. Peers and tools it needs
(libpam-oath, libpam-google-authenticator, pamtester, gcc, libpam0g-dev, python3-aiosmtpd) are
apt-installed when missing. The run takes 2-5 minutes on 2 cores.

Whole process (a fresh process per round, rounds interleaved A B C A B C ...):
  bench/pamrun.c (built here) = pam_start_confdir + pam_authenticate + pam_end, as pamtester does,
  with libpam's fail delay switched off; pamtester itself for the cases that do not fail.
  pam_permit | pam_oath, wrong code | pam_google_authenticator, wrong code |
  pam_emailotp unenrolled user under nullok pin=none | enrolled user, wrong PIN |
  challenge trigger over loopback SMTP and into a Maildir (the mail path, libcurl loaded lazily).
In process (pam_start_confdir in this process, the module loaded once):
  pam_permit, pam_unix, interactive login with Maildir / loopback SMTP, challenge trigger and
  answer, the PIN hash alone; the SMTP hand-off as the server sees it (connect to close).
Parallel: 200 logins (challenge trigger + answer, each a fresh process) across 50 users by 16
workers, and 50 at once against one user; then every record is checked: no lost challenge,
no lost fail count.
No timing is asserted anywhere: this is a measurement, not a test.
"""
import argparse
import concurrent.futures
import ctypes
import email
import email.policy
import os
import pathlib
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
PIN = "bench-PIN-2026"
PACKAGES = ["libpam-oath", "libpam-google-authenticator", "pamtester", "gcc", "libpam0g-dev",
            "python3-aiosmtpd", "binutils"]
NAMESPACE_FLAG = "EMAILOTP_BENCH_NAMESPACE"


# ---------------------------------------------------------------- helpers

def ms(seconds):
    return seconds * 1000.0


def median(samples):
    return statistics.median(samples)


def p99(samples):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def ensure_packages():
    missing = [p for p in PACKAGES if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], capture_output=True, text=True).stdout
        .find("install ok installed") < 0]
    if missing:
        print("bench: installing %s" % " ".join(missing), file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-qq"] + missing, check=True, env=env)


def enter_namespace(argv):
    """Re-run in a private mount namespace: pamtester reads /etc/pam.d, which is replaced there
    by the bench's own directory; /dev/log is pointed at /dev/null so that no syslog daemon's
    speed (or a stuck test socket) is measured: every case pays the same connect attempt."""
    if os.environ.get(NAMESPACE_FLAG):
        return
    os.environ[NAMESPACE_FLAG] = "1"
    os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "--",
                          sys.executable] + argv)


def spawn(argv, stdin=None):
    """(seconds, exit status, stdout) of one fresh process."""
    start = time.perf_counter()
    p = subprocess.run(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                       capture_output=True, text=True)
    return time.perf_counter() - start, p.returncode, p.stdout


QUIET = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
         (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)]


def spawn_fast(argv):
    """Wall time of one fresh process: posix_spawn + wait4, nothing else timed."""
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=QUIET)
    _, status, _ = os.wait4(pid, 0)
    return time.perf_counter() - start, os.waitstatus_to_exitcode(status)


def interleaved(rounds, cases):
    """cases: {name: (argv, expected exit status)} -> {name: [seconds]}, A B C A B C ..."""
    samples = {name: [] for name in cases}
    for argv, _ in cases.values():        # warm the page cache once
        spawn_fast(argv)
    for _ in range(rounds):
        for name, (argv, rc) in cases.items():
            seconds, got = spawn_fast(argv)
            if got != rc:
                raise SystemExit("bench: %s exited %d, expected %d: %s" % (name, got, rc, argv))
            samples[name].append(seconds)
    return samples


# ---------------------------------------------------------------- the run

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60, help="whole-process rounds per case")
    parser.add_argument("--inprocess-rounds", type=int, default=20)
    parser.add_argument("--module", help="pam_emailotp.so to measure (default: installed)")
    parser.add_argument("--emailotp", help="emailotp command (default: installed)")
    parser.add_argument("--pamtester", default="pamtester")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"),
                        help="Markdown report to write, - for stdout only")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root")
    if args.module:
        os.environ["EMAILOTP_MODULE"] = os.path.abspath(args.module)
    if args.emailotp:
        os.environ["EMAILOTP_BIN"] = os.path.abspath(args.emailotp)
    ensure_packages()
    enter_namespace([str(pathlib.Path(__file__).resolve())] + sys.argv[1:])

    sys.path.insert(0, str(HERE.parent / "IntegrationTests"))
    global TestSite, module_dir, module_path, extract_code, authenticate, SMTPCapture
    global PAM_AUTH_ERR, PAM_SUCCESS
    from lib.env import TestSite, module_dir, module_path  # noqa: E402
    from lib.mail import extract_code  # noqa: E402
    from lib.pamdriver import PAM_AUTH_ERR, PAM_SUCCESS, authenticate  # noqa: E402
    from lib.smtp_capture import SMTPCapture  # noqa: E402

    module = module_path()
    if not os.path.exists(module):
        raise SystemExit("bench: %s does not exist (install it or pass --module)" % module)
    work = pathlib.Path(tempfile.mkdtemp(prefix="emailotp-bench."))
    os.chmod(work, 0o755)
    user = "eotpb_" + secrets.token_hex(3)
    password = "Unix-" + secrets.token_hex(8)
    report = Report(args, module)
    started = time.monotonic()
    # a killed run still removes its user, mount and files (finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("bench: terminated"))
    try:
        if os.path.exists("/dev/log"):
            subprocess.run(["mount", "--bind", "/dev/null", "/dev/log"], check=True)
        if subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", user]).returncode == 0:
            subprocess.run(["chpasswd"], input="%s:%s\n" % (user, password), text=True, check=True)
        else:
            # /etc/passwd locked (another useradd on a shared machine): measure without pam_unix
            print("bench: useradd failed; the pam_unix case is left out", file=sys.stderr)
            user, password = "nobody", None
        pamrun = str(work / "pamrun")
        subprocess.run(["cc", "-O2", "-o", pamrun, str(HERE / "pamrun.c"), "-lpam"], check=True)
        with SMTPCapture(work / "smtp") as smtp:
            bench = Bench(args, work, user, password, pamrun, module, smtp, report)
            bench.artifact()
            bench.whole_process()
            bench.pamtester()
            bench.loads()
            bench.in_process()
            bench.parallel()
    finally:
        if password is not None:
            subprocess.run(["userdel", user], stderr=subprocess.DEVNULL)
        subprocess.run(["umount", "/etc/pam.d"], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    report.elapsed = time.monotonic() - started
    text = report.markdown()
    print(text)
    if args.results != "-":
        pathlib.Path(args.results).write_text(text)
        print("bench: wrote %s" % args.results, file=sys.stderr)


class Bench:
    def __init__(self, args, work, user, password, pamrun, module, smtp, report):
        self.args, self.work, self.user, self.password = args, work, user, password
        self.pamrun, self.module, self.smtp, self.report = pamrun, module, smtp, report
        self.confdir = work / "pam.d"
        self.confdir.mkdir()
        common = dict(max_mails_per_hour=1000, resend_interval=0, max_fail=1000,
                      max_open_challenges=100, concurrent_challenges="yes")
        self.maildir = work / "maildir"
        self.site = TestSite(work, name="maildir", keys=dict(common, mail_transport="maildir:%s" % self.maildir))
        self.site.enroll(user, "bench@example.org", pin=PIN)
        self.smtp_site = TestSite(work, name="smtp", smtp=smtp, keys=common)
        self.smtp_site.enroll(user, "bench@example.org", pin=PIN)
        self.smtp_site.enroll("nopin", "nopin@example.org", pin=None)
        self.site.enroll("nopin", "nopin@example.org", pin=None)
        self.empty_site = TestSite(work, name="empty", keys=dict(common, mail_transport="maildir:%s" % self.maildir))

    def service(self, name, text):
        (self.confdir / name).write_text(text)
        return name

    def run_argv(self, service, user, *answers):
        return [self.pamrun, str(self.confdir), service, user] + list(answers)

    # -- the file
    def artifact(self):
        r = self.report
        r.size = os.path.getsize(self.module)
        stripped = self.work / "stripped.so"
        subprocess.run(["strip", "-o", str(stripped), self.module], check=True)
        r.stripped_size = os.path.getsize(stripped)
        r.ldd_lines = len(subprocess.run(["ldd", self.module], capture_output=True, text=True).stdout.splitlines())
        dyn = subprocess.run(["readelf", "-d", "-W", self.module], capture_output=True, text=True).stdout
        r.needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)

    # -- whole process
    def whole_process(self):
        oath_users = self.work / "oath.users"
        oath_users.write_text("HOTP/T30 %s - 3132333435363738393031323334353637383930\n" % self.user)
        os.chmod(oath_users, 0o600)
        ga = self.work / ("ga." + self.user)
        ga.write_text('JBSWY3DPEHPK3PXP\n" TOTP_AUTH\n')
        os.chmod(ga, 0o400)
        mod = self.module
        cases = {
            "pam_permit": (self.run_argv(self.service("permit", "auth required pam_permit.so\n"), self.user), 0),
            "pam_oath, wrong code": (self.run_argv(self.service(
                "oath", "auth required pam_oath.so usersfile=%s window=3\n" % oath_users), self.user, "000000"), 7),
            "pam_google_authenticator, wrong code": (self.run_argv(self.service(
                "gauth", "auth required pam_google_authenticator.so secret=%s/ga.${USER} user=root\n" % self.work),
                self.user, "000000"), 7),
            "pam_emailotp unenrolled, nullok": (self.run_argv(self.service(
                "unenrolled", "auth required %s config=%s nullok pin=none\nauth required pam_permit.so\n"
                % (mod, self.empty_site.config)), self.user), 0),
            "pam_emailotp enrolled, wrong PIN": (self.run_argv(self.service(
                "wrongpin", "auth required %s config=%s\n" % (mod, self.site.config)), self.user, "wrong-PIN"), 7),
        }
        self.report.whole = interleaved(self.args.rounds, cases)
        # the mail path: challenge trigger (pin=none, empty password), which mails and denies
        mail_cases = {
            "pam_permit": cases["pam_permit"],
            "challenge trigger, Maildir": (self.run_argv(self.service(
                "trigger-maildir", "auth required %s config=%s mode=challenge pin=none\n" % (mod, self.site.config)),
                "nopin", ""), 7),
            "challenge trigger, loopback SMTP": (self.run_argv(self.service(
                "trigger-smtp", "auth required %s config=%s mode=challenge pin=none\n" % (mod, self.smtp_site.config)),
                "nopin", ""), 7),
        }
        self.report.mail_whole = interleaved(max(10, self.args.rounds // 3), mail_cases)

    def pamtester(self):
        """pamtester with /etc/pam.d replaced (private namespace): wall time and peak RSS."""
        subprocess.run(["mount", "--bind", str(self.confdir), "/etc/pam.d"], check=True)
        try:
            cases = {
                "pam_permit": ["permit"],
                "pam_emailotp unenrolled, nullok": ["unenrolled"],
            }
            times = {n: [] for n in cases}
            rss = {n: [] for n in cases}
            for _ in range(max(10, self.args.rounds // 2)):
                for name, (service,) in cases.items():
                    seconds, rc = spawn_fast([shutil.which(self.args.pamtester), service, self.user, "authenticate"])
                    if rc != 0:
                        raise SystemExit("bench: pamtester %s exited %d" % (service, rc))
                    times[name].append(seconds)
                    _, rc, out = spawn([self.pamrun, "--rss", self.args.pamtester, service, self.user, "authenticate"])
                    rss[name].append(int(out.split()[-1]))
            self.report.pamtester_times = times
            self.report.pamtester_rss = rss
        finally:
            subprocess.run(["umount", "/etc/pam.d"], check=True)

    def loads(self):
        libs = {
            "pam_permit.so": os.path.join(module_dir(), "pam_permit.so"),
            "pam_oath.so": os.path.join(module_dir(), "pam_oath.so"),
            "pam_emailotp.so": self.module,
            "libcurl.so.4 (lazy, SMTP mail only)": "libcurl.so.4",
            "libcrypto.so.3 (lazy, enrolled users)": "libcrypto.so.3",
            "libstdc++.so.6 (no longer loaded)": "libstdc++.so.6",
        }
        out = {n: [] for n in libs}
        for _ in range(15):
            for name, lib in libs.items():
                _, rc, text = spawn([self.pamrun, "--dlopen", lib])
                out[name].append(int(text.split()[0]) / 1e9)
        self.report.loads = out

    # -- in process
    def in_process(self):
        n = self.args.inprocess_rounds
        user, site, smtp_site, smtp = self.user, self.site, self.smtp_site, self.smtp
        res = {}

        def timed(once):
            samples = []
            for _ in range(n):
                start = time.perf_counter()
                once()
                samples.append(time.perf_counter() - start)
            return samples

        def expect(result, rc):
            if result.rc != rc:
                raise SystemExit("bench: unexpected PAM result: %s" % result.describe())

        res["pam_permit"] = timed(lambda: expect(
            authenticate(user, "auth required pam_permit.so\n", [], fork=False), PAM_SUCCESS))
        if self.password is not None:
            res["pam_unix"] = timed(lambda: expect(
                authenticate(user, "auth required pam_unix.so\n", [self.password], fork=False), PAM_SUCCESS))
        res["interactive login, Maildir"] = timed(lambda: expect(
            site.authenticate(user, [PIN, lambda: newest_code(self.maildir)], fork=False), PAM_SUCCESS))
        first = len(smtp.events())
        res["interactive login, loopback SMTP"] = timed(lambda: expect(
            smtp_site.authenticate(user, [PIN, lambda: newest_smtp_code(smtp)], fork=False), PAM_SUCCESS))
        trigger, answer = [], []
        for _ in range(n):
            start = time.perf_counter()
            r = site.authenticate(user, [PIN], args="mode=challenge", fork=False)
            trigger.append(time.perf_counter() - start)
            expect(r, PAM_AUTH_ERR)
            code = newest_code(self.maildir)
            start = time.perf_counter()
            r = site.authenticate(user, [PIN + code], args="mode=challenge", fork=False)
            answer.append(time.perf_counter() - start)
            expect(r, PAM_SUCCESS)
        res["challenge trigger (PIN, mail, deny)"] = trigger
        res["challenge answer (PIN+code)"] = answer
        res["challenge trigger + answer"] = [a + b for a, b in zip(trigger, answer)]
        pin_hash = site.read_record(user)["pin"]
        libcrypt = ctypes.CDLL("libcrypt.so.1")
        libcrypt.crypt.restype = ctypes.c_char_p
        res["PIN hash alone (yescrypt verify)"] = timed(lambda: libcrypt.crypt(PIN.encode(), pin_hash.encode()))
        self.report.inproc = res
        time.sleep(0.2)   # the server logs "close" after the client's last byte
        self.report.handoff = handoff_spans(smtp.events()[first:])

    # -- parallel
    def parallel(self):
        users = ["eotpp%02d" % i for i in range(50)]
        site = TestSite(self.work, name="parallel", keys=dict(
            mail_transport="maildir:%s" % (self.work / "pmail"), max_mails_per_hour=1000,
            resend_interval=0, max_fail=1000, max_open_challenges=100, concurrent_challenges="yes",
            otp_validity=600))
        for u in users:
            site.enroll(u, "%s@example.org" % u, pin=PIN)
        service = self.service("parallel", "auth required %s config=%s mode=challenge\n" % (self.module, site.config))
        mails = MailIndex(self.work / "pmail" / "new")

        def login(u):
            start = time.perf_counter()
            _, rc, out = spawn(self.run_argv(service, u, PIN))
            m = re.search(r"Transaction id: (\d{20})", out)
            if rc != 7 or not m:
                return time.perf_counter() - start, False
            code = mails.code(m.group(1))
            _, rc, _ = spawn(self.run_argv(service, u, PIN + code))
            return time.perf_counter() - start, rc == 0

        def wrong(u):
            start = time.perf_counter()
            _, rc, _ = spawn(self.run_argv(service, u, "wrong-PIN"))
            return time.perf_counter() - start, rc == 7

        results = {}
        jobs = [users[i % 50] for i in range(200)]
        results["200 logins, 50 users, 16 parallel"] = run_pool(login, jobs, 16)
        one = users[0]
        results["50 logins at once, one user"] = run_pool(login, [one] * 50, 50)
        fails_before = int(site.read_record(one)["fail_count"])
        results["50 wrong PINs at once, one user"] = run_pool(wrong, [one] * 50, 50)
        fails_after = int(site.read_record(one)["fail_count"])
        open_challenges = sum(len(site.challenges(u)) for u in users)
        mails_recorded = sum(len(site.read_record(u)["mails"].split()) for u in users)
        self.report.parallel = results
        self.report.parallel_checks = {
            "logins granted": "%d of 250" % sum(sum(results[k][2]) for k in list(results)[:2]),
            "open challenges left (every granted one is consumed)": open_challenges,
            "mails recorded in the records = mails delivered": "%d = %d" % (mails_recorded, mails.count()),
            "fail count after 50 parallel wrong PINs": "%d (before %d, expected +50)" % (fails_after, fails_before),
        }


def run_pool(fn, jobs, workers):
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        out = list(pool.map(fn, jobs))
    wall = time.perf_counter() - start
    return wall, [t for t, _ in out], [ok for _, ok in out]


class MailIndex:
    """Transaction id -> code over a Maildir's new/ that several threads read."""

    def __init__(self, directory):
        self.directory = directory
        self.lock = threading.Lock()
        self.seen = set()
        self.codes = {}

    def code(self, txid):
        with self.lock:
            if txid not in self.codes:
                for name in os.listdir(self.directory):
                    if name in self.seen:
                        continue
                    self.seen.add(name)
                    msg = email.message_from_bytes((self.directory / name).read_bytes(), policy=email.policy.default)
                    self.codes[msg["X-EmailOTP-Transaction-Id"]] = extract_code(msg)
            return self.codes[txid]

    def count(self):
        return len(os.listdir(self.directory))


def newest_code(maildir):
    files = sorted(pathlib.Path(maildir, "new").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    return extract_code(email.message_from_bytes(files[-1].read_bytes(), policy=email.policy.default))


def newest_smtp_code(smtp):
    """The newest captured mail only (smtp.last() parses every mail captured so far)."""
    names = sorted(n for n in os.listdir(smtp.directory) if re.fullmatch(r"\d+\.eml", n))
    return extract_code(os.path.join(smtp.directory, names[-1]))


def handoff_spans(events):
    """connect -> close of each SMTP session, as the server saw it."""
    spans, opened = [], None
    for e in events:
        if e.get("ev") == "connect":
            opened = e["t"]
        elif e.get("ev") == "close" and opened is not None:
            spans.append(e["t"] - opened)
            opened = None
    return spans


# ---------------------------------------------------------------- the report

class Report:
    def __init__(self, args, module):
        self.args, self.module = args, module
        self.elapsed = 0.0

    def machine(self):
        model = "unknown"
        try:
            for line in open("/proc/cpuinfo"):
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        load = os.getloadavg()
        return "%d CPUs (nproc), %s, %s, load average at the end %.2f %.2f %.2f" % (
            os.cpu_count(), model, platform.platform(), *load)

    def table(self, title, samples, base_name, note=""):
        base = median(samples[base_name])
        lines = ["### %s" % title, "", note, "" if note else None,
                 "| case | median ms | p90 ms | x %s |" % base_name, "|---|---:|---:|---:|"]
        lines = [l for l in lines if l is not None]
        for name, s in samples.items():
            p90 = sorted(s)[int(0.9 * (len(s) - 1))]
            lines.append("| %s | %.2f | %.2f | %.2f |" % (name, ms(median(s)), ms(p90), median(s) / base))
        return "\n".join(lines) + "\n"

    def markdown(self):
        a = self.args
        out = ["# pam_emailotp benchmark results", "",
               "Written by `bench/bench.py` (%s, %.0f s). Command:" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), self.elapsed),
               "", "    sudo bench/bench.py --rounds %d%s%s" % (
                   a.rounds, " --module %s" % a.module if a.module else "",
                   " --emailotp %s" % a.emailotp if a.emailotp else ""),
               "", "Machine: %s." % self.machine(),
               "Every figure below comes from this one run; peers are measured interleaved with the module.",
               "", "## The module file", "",
               "| | pam_emailotp.so |", "|---|---|",
               "| path | `%s` |" % self.module,
               "| size | %.1f MB (%d bytes); stripped %.1f MB |" % (self.size / 1e6, self.size, self.stripped_size / 1e6),
               "| `ldd \\| wc -l` | %d |" % self.ldd_lines,
               "| NEEDED | %s |" % ", ".join(self.needed), ""]
        out.append("## Whole process: one fresh process per PAM transaction\n")
        out.append(self.table("bench/pamrun (pam_start_confdir + pam_authenticate, fail delay off), %d rounds" % a.rounds,
                              self.whole, "pam_permit"))
        out.append(self.table("The mail path, whole process (libcurl loaded on the SMTP mail)", self.mail_whole, "pam_permit"))
        t, r = self.pamtester_times, self.pamtester_rss
        out.append("### pamtester (the real program, `/etc/pam.d` replaced in a private mount namespace)\n")
        out.append("| case | median ms | x pam_permit | peak RSS KiB (max) |\n|---|---:|---:|---:|")
        for name in t:
            out.append("| %s | %.2f | %.2f | %d |" % (name, ms(median(t[name])), median(t[name]) / median(t["pam_permit"]), max(r[name])))
        names = list(t)
        out.append("\nPeak RSS with pam_emailotp is %d KiB (%.1f MiB) above pam_permit's.\n" % (
            max(r[names[1]]) - max(r[names[0]]), (max(r[names[1]]) - max(r[names[0]])) / 1024))
        out.append("### dlopen in a fresh process (RTLD_NOW, with the library's own dependencies)\n")
        out.append("| library | median ms |\n|---|---:|")
        for name, s in self.loads.items():
            out.append("| %s | %.2f |" % (name, ms(median(s))))
        out.append("")
        out.append("## In process (pam_start_confdir in the bench process; the module stays loaded)\n")
        out.append(self.table("%d rounds each" % a.inprocess_rounds, self.inproc,
                              "pam_unix" if "pam_unix" in self.inproc else "pam_permit"))
        h = self.handoff
        if h:
            out.append("SMTP hand-off to the loopback server (server-side connect to close, %d mails): "
                       "median %.2f ms, p99 %.2f ms. The lazy load of libcurl (dlopen above) is paid once per process, "
                       "on its first SMTP mail.\n" % (len(h), ms(median(h)), ms(p99(h))))
        out.append("## Parallel logins (challenge trigger + answer, each a fresh process; Maildir)\n")
        out.append("| scenario | wall s | logins/s | p50 ms | p99 ms | failed |\n|---|---:|---:|---:|---:|---:|")
        for name, (wall, times, oks) in self.parallel.items():
            out.append("| %s | %.2f | %.1f | %.1f | %.1f | %d |" % (
                name, wall, len(times) / wall, ms(median(times)), ms(p99(times)), len(oks) - sum(oks)))
        out.append("\nChecks after the parallel runs (lost updates would show here):\n")
        for name, value in self.parallel_checks.items():
            out.append("- %s: %s" % (name, value))
        out.append("")
        return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
