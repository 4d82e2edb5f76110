#!/usr/bin/python3
"""The unenrolled path (nullok pin=none) and a re-used challenge of module builds beside pam_permit.

    sudo bench/unenrolled.py [--rounds N] [--no-callgrind] [--no-challenge] [--emailotp BIN]
                             [--annotate N] MODULE.so [MODULE.so ...]

For each module, stripped as install.sh installs it: its size, the count of admin-only symbols
`nm` finds in the unstripped build, callgrind's instructions of one fresh bench/pamrun process
(`valgrind --tool=callgrind bench/pamrun CONFDIR svc nobody`, stack
`auth required MODULE config=... nullok pin=none` + `auth required pam_permit.so`, as bench.py), and the median wall time of N fresh
processes, interleaved with pam_permit's (the whole-process subset of bench/bench.py).
Run it in a private mount namespace (it binds /dev/null over /dev/log, as bench.py does).
No timing is asserted: this is a measurement.

With callgrind and the emailotp command (default /usr/local/sbin/emailotp, which enrols `nobody`
without a PIN into a store of each module's own; without it these cases are left out), two
challenge-mode cases per module, `auth required MODULE config=... mode=challenge pin=none` (no
yescrypt to hide the flow's own cost, as bench/process_cost.py), after one first step (an empty
password: a challenge opened, its code mailed into a Maildir):
  re-used challenge   an empty password again while that challenge is open (resend_interval
                      3600): no mail, the answer names the same transaction id; checked: exit
                      7, no second mail, the first step's transaction id in the message
  replayed answer     the code of a challenge already granted (the granting login runs first,
                      not measured): refused; checked: exit 0 before, exit 7 now
Each is one fresh bench/pamrun process under callgrind, against pam_permit's of the same run.
"""
import argparse
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import interleaved  # noqa: E402

ADMIN_NAMES = ["Audit", "PostgresSchema", "StackAudit", "SudoersRules", "SSHDConfigRules",
               "PAMStackReader", "LocalUsers"]


ANNOTATE = 0  # --annotate N: callgrind_annotate's N costliest functions (inclusive) of each case


ENTRY_ROWS = re.compile(r"\(below main\)|__libc_start|\?\?\?:main |libpam\.so|ld-linux|pam_sm_authenticate|emailotp_authenticate")


def instructions(argv, expect=None, label=None):
    """callgrind's instruction count of one run of ARGV; with EXPECT, the run's exit status
    must be EXPECT (else the wrong path was measured): (count, stdout)."""
    with tempfile.TemporaryDirectory() as out:
        p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=%s/cg" % out] + argv,
                           capture_output=True, text=True)
        found = re.search(r"Collected : (\d+)", p.stderr)
        if ANNOTATE and found:
            table = subprocess.run(["callgrind_annotate", "--inclusive=yes", "%s/cg" % out],
                                   capture_output=True, text=True).stdout
            rows = [line for line in table.splitlines()
                    if re.match(r"\s*[\d,]+ \(", line) and not ENTRY_ROWS.search(line)][:ANNOTATE]
            print("    %s, below pam_sm_authenticate:\n%s" % (label or argv[2], "\n".join("      " + row[:200] for row in rows)))
        if expect is None:
            return int(found.group(1)) if found else None
        if p.returncode != expect or not found:
            raise SystemExit("unenrolled: %s exited %d under callgrind, expected %d:\n%s%s"
                             % (" ".join(argv), p.returncode, expect, p.stdout, p.stderr[-2000:]))
        return int(found.group(1)), p.stdout


TXID = re.compile(r"\b(\d{20})\b")


def challenge_cases(work, pamrun, confdir, module, number, emailotp):
    """callgrind instructions of a re-used challenge and of a replayed answer for MODULE:
    {case: instructions}. Its own store, `nobody` enrolled without a PIN by EMAILOTP."""
    sys.path.insert(0, str(HERE.parent / "IntegrationTests"))
    from lib.mail import extract_code  # noqa: E402
    site = work / ("challenge%d" % number)
    store, maildir = site / "store", site / "maildir"
    store.mkdir(parents=True, mode=0o700)
    config = site / "emailotp.conf"
    config.write_text("store = %s\nmail_sender = bench@example.org\nmail_transport = maildir:%s\n"
                      "resend_interval = 3600\nmax_fail = 1000\nmax_mails_per_hour = 1000\n" % (store, maildir))
    os.chmod(config, 0o600)
    subprocess.run([emailotp, "enroll", "--config", str(config), "--store", str(store), "nobody",
                    "--email", "nobody@example.org", "--no-pin"], text=True,
                   capture_output=True, check=True)
    service = "challenge%d" % number
    (confdir / service).write_text("auth required %s config=%s mode=challenge pin=none\n" % (module, config))
    run = [pamrun, str(confdir), service, "nobody"]
    first = subprocess.run(run + [""], capture_output=True, text=True)
    mails = sorted((maildir / "new").iterdir())
    txid = TXID.search(first.stdout)
    if first.returncode != 7 or len(mails) != 1 or txid is None:
        raise SystemExit("unenrolled: the first step did not open a challenge (exit %d, %d mails): %s"
                         % (first.returncode, len(mails), first.stdout))
    figures = {}
    figures["re-used challenge"], said = instructions(run + [""], expect=7, label="re-used challenge")
    if len(list((maildir / "new").iterdir())) != 1 or txid.group(1) not in said:
        raise SystemExit("unenrolled: the second first step did not re-use the open challenge: %s" % said)
    answer = extract_code(mails[0].read_bytes())
    granted = subprocess.run(run + [answer], capture_output=True, text=True)
    if granted.returncode != 0:
        raise SystemExit("unenrolled: the code was not granted (exit %d): %s" % (granted.returncode, granted.stdout))
    figures["replayed answer"], _ = instructions(run + [answer], expect=7, label="replayed answer")
    return figures


def private_namespace():
    """Re-executes this script in a private mount namespace (once), where /dev/null is bound
    over /dev/log: the module's log lines go nowhere instead of into the machine's log."""
    if os.environ.get("EMAILOTP_BENCH_NAMESPACE") != "1":
        os.environ["EMAILOTP_BENCH_NAMESPACE"] = "1"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "--",
                              sys.executable, os.path.abspath(sys.argv[0])] + sys.argv[1:])
    if os.path.exists("/dev/log"):
        subprocess.run(["mount", "--bind", "/dev/null", "/dev/log"], check=True)


def scratch(prefix):
    """A work directory with bench/pamrun built, an empty file store, a configuration that mails
    into a Maildir, and an empty PAM configuration directory: (work, pamrun, config, confdir)."""
    work = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(work, 0o755)
    pamrun = str(work / "pamrun")
    subprocess.run(["cc", "-O2", "-o", pamrun, str(HERE / "pamrun.c"), "-lpam"], check=True)
    store = work / "store"
    store.mkdir(mode=0o700)
    config = work / "emailotp.conf"
    config.write_text("store = %s\nmail_sender = bench@example.org\nmail_transport = maildir:%s\n"
                      % (store, work / "maildir"))
    os.chmod(config, 0o600)
    confdir = work / "pam.d"
    confdir.mkdir()
    return work, pamrun, config, confdir


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--no-callgrind", action="store_true")
    parser.add_argument("--no-challenge", action="store_true", help="leave out the challenge-mode cases")
    parser.add_argument("--annotate", type=int, default=0, metavar="N",
                        help="print each case's N costliest functions (callgrind_annotate, inclusive); "
                             "the module is then stripped of its debug information only, keeping its symbols")
    parser.add_argument("--emailotp", default="/usr/local/sbin/emailotp", help="enrols the challenge cases' user")
    parser.add_argument("modules", nargs="+")
    args = parser.parse_args()
    global ANNOTATE
    ANNOTATE = args.annotate
    private_namespace()
    work, pamrun, config, confdir = scratch("emailotp-unenrolled.")
    (confdir / "permit").write_text("auth required pam_permit.so\n")
    cases = {"pam_permit": ([pamrun, str(confdir), "permit", "nobody"], 0)}
    rows = []
    for number, module in enumerate(args.modules):
        module = os.path.abspath(module)
        stripped = work / ("stripped%d.so" % number)
        subprocess.run(["strip"] + (["--strip-debug"] if args.annotate else []) + ["-o", str(stripped), module], check=True)
        symbols = subprocess.run(["nm", module], capture_output=True, text=True).stdout.splitlines()
        admin = {name: sum(name in line for line in symbols) for name in ADMIN_NAMES}
        service = "unenrolled%d" % number
        # the stripped copy, as installed (valgrind cannot read the build's debug information)
        (confdir / service).write_text("auth required %s config=%s nullok pin=none\nauth required pam_permit.so\n"
                                       % (stripped, config))
        argv = [pamrun, str(confdir), service, "nobody"]
        cases[module] = (argv, 0)
        rows.append((module, os.path.getsize(stripped), admin, argv, stripped, number))
    permit_instr = None if args.no_callgrind else instructions(cases["pam_permit"][0])
    samples = interleaved(args.rounds, cases)
    permit = statistics.median(samples["pam_permit"])
    print("pam_permit: %.3f ms median, %s instructions" % (permit * 1000, permit_instr))
    challenge = not (args.no_callgrind or args.no_challenge)
    if challenge and not os.access(args.emailotp, os.X_OK):
        print("%s not found: the challenge cases are left out" % args.emailotp)
        challenge = False
    for module, size, admin, argv, stripped, number in rows:
        instr = None if args.no_callgrind else instructions(argv, label="unenrolled")
        wall = statistics.median(samples[module])
        print("%s\n  stripped %d bytes; admin symbols %s (total %d)" % (module, size, admin, sum(admin.values())))
        print("  unenrolled: %.3f ms median (%.2fx pam_permit, %d rounds)%s" % (
            wall * 1000, wall / permit, args.rounds,
            "" if instr is None else "; %d instructions (%.2fx pam_permit)" % (instr, instr / permit_instr)))
        if challenge:
            for case, count in challenge_cases(work, pamrun, confdir, stripped, number, args.emailotp).items():
                print("  %s: %d instructions (%.2fx pam_permit)" % (case, count, count / permit_instr))


if __name__ == "__main__":
    main()
