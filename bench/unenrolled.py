#!/usr/bin/python3
"""The unenrolled path (nullok pin=none) of one or more module builds beside pam_permit.

    sudo bench/unenrolled.py [--rounds N] [--no-callgrind] MODULE.so [MODULE.so ...]

For each module, stripped as install.sh installs it: its size, the count of admin-only symbols
`nm` finds in the unstripped build, callgrind's instructions of one fresh bench/pamrun process
(`valgrind --tool=callgrind bench/pamrun CONFDIR svc nobody`, stack
`auth required MODULE config=... nullok pin=none` + `auth required pam_permit.so`, as bench.py), and the median wall time of N fresh
processes, interleaved with pam_permit's (the whole-process subset of bench/bench.py).
Run it in a private mount namespace (it binds /dev/null over /dev/log, as bench.py does).
No timing is asserted: this is a measurement.
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


def instructions(argv):
    with tempfile.TemporaryDirectory() as out:
        p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=%s/cg" % out] + argv,
                           capture_output=True, text=True)
        found = re.search(r"Collected : (\d+)", p.stderr)
        return int(found.group(1)) if found else None


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
    parser.add_argument("modules", nargs="+")
    args = parser.parse_args()
    private_namespace()
    work, pamrun, config, confdir = scratch("emailotp-unenrolled.")
    (confdir / "permit").write_text("auth required pam_permit.so\n")
    cases = {"pam_permit": ([pamrun, str(confdir), "permit", "nobody"], 0)}
    rows = []
    for number, module in enumerate(args.modules):
        module = os.path.abspath(module)
        stripped = work / ("stripped%d.so" % number)
        subprocess.run(["strip", "-o", str(stripped), module], check=True)
        symbols = subprocess.run(["nm", module], capture_output=True, text=True).stdout.splitlines()
        admin = {name: sum(name in line for line in symbols) for name in ADMIN_NAMES}
        service = "unenrolled%d" % number
        # the stripped copy, as installed (valgrind cannot read the build's debug information)
        (confdir / service).write_text("auth required %s config=%s nullok pin=none\nauth required pam_permit.so\n"
                                       % (stripped, config))
        argv = [pamrun, str(confdir), service, "nobody"]
        cases[module] = (argv, 0)
        rows.append((module, os.path.getsize(stripped), admin, argv))
    permit_instr = None if args.no_callgrind else instructions(cases["pam_permit"][0])
    samples = interleaved(args.rounds, cases)
    permit = statistics.median(samples["pam_permit"])
    print("pam_permit: %.3f ms median, %s instructions" % (permit * 1000, permit_instr))
    for module, size, admin, argv in rows:
        instr = None if args.no_callgrind else instructions(argv)
        wall = statistics.median(samples[module])
        print("%s\n  stripped %d bytes; admin symbols %s (total %d)" % (module, size, admin, sum(admin.values())))
        print("  unenrolled: %.3f ms median (%.2fx pam_permit, %d rounds)%s" % (
            wall * 1000, wall / permit, args.rounds,
            "" if instr is None else "; %d instructions (%.2fx pam_permit)" % (instr, instr / permit_instr)))


if __name__ == "__main__":
    main()
