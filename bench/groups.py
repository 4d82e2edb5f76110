#!/usr/bin/python3
"""The cost of the `groups` lookup per login, against the same login without it, in one run.

    sudo bench/groups.py [--rounds N] [--no-callgrind] [--module MODULE.so]

One fresh bench/pamrun process per PAM transaction for the user `nobody` (primary group
`nogroup`), fail delay off, stack `auth required MODULE config=... nullok pin=none ARGS` +
`auth required pam_permit.so`, interleaved:

- `today`: no `groups` (the unenrolled nullok path: the store is read, PAM_IGNORE);
- `groups, member`: `groups=nogroup`: NSS is asked (getpwnam, getgrouplist, getgrnam), the user
  is in the group, then the same path as `today` — the difference is the lookup;
- `groups, not asked`: `groups=root`: NSS is asked, PAM_IGNORE without reading the store.

Prints the median wall time of each and, with valgrind, callgrind's instructions of one process
(deterministic; the ratio of `groups, member` to `today` is the lookup's cost). Run as root; it
binds /dev/null over /dev/log in a private mount namespace, as bench.py does. No timing is
asserted: this is a measurement.
"""
import argparse
import os
import pathlib
import shutil
import statistics
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import interleaved  # noqa: E402
from unenrolled import instructions, private_namespace, scratch  # noqa: E402


def installed_module():
    for d in ("/lib/x86_64-linux-gnu/security", "/usr/lib/x86_64-linux-gnu/security", "/lib/security",
              "/usr/lib/security", "/lib64/security", "/usr/lib64/security"):
        path = os.path.join(d, "pam_emailotp.so")
        if os.path.exists(path):
            return path
    raise SystemExit("bench: pam_emailotp.so is not installed; give --module")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--no-callgrind", action="store_true")
    parser.add_argument("--module")
    args = parser.parse_args()
    private_namespace()
    module = os.path.abspath(args.module or installed_module())
    work, pamrun, config, confdir = scratch("emailotp-groups.")
    try:
        stacks = {"today": "", "groups, member": "groups=nogroup", "groups, not asked": "groups=root"}
        cases = {}
        for number, (name, extra) in enumerate(stacks.items()):
            service = "groups%d" % number
            (confdir / service).write_text("auth required %s config=%s nullok pin=none %s\nauth required pam_permit.so\n"
                                           % (module, config, extra))
            cases[name] = ([pamrun, str(confdir), service, "nobody"], 0)
        samples = interleaved(args.rounds, cases)
        base = statistics.median(samples["today"])
        base_instr = None if args.no_callgrind or not shutil.which("valgrind") else instructions(cases["today"][0])
        print("module %s, %d rounds, user nobody" % (module, args.rounds))
        print("| case | median ms | x today | instructions | x today |")
        print("|---|---:|---:|---:|---:|")
        for name, (argv, _) in cases.items():
            wall = statistics.median(samples[name])
            instr = instructions(argv) if base_instr else None
            print("| %s | %.3f | %.3f | %s | %s |" % (
                name, wall * 1000, wall / base, instr if instr else "-",
                "%.4f" % (instr / base_instr) if instr else "-"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
