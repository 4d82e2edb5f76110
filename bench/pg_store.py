#!/usr/bin/python3
"""Login latency on the PostgreSQL store beside the file store, and concurrency figures.

    sudo bench/pg_store.py [--rounds N]

Starts a private PostgreSQL cluster on a loopback port (IntegrationTests/lib/pgcluster.py),
runs store-init, then in one run:
  file/interactive  pam_emailotp interactive login (PIN + code into a Maildir), file store
  pg/interactive    the same login, PostgreSQL store (connect, transactions, row locks)
  file/step1, pg/step1   challenge mode, first step (PIN alone, code mailed, denied)
and 100 concurrent `emailotp check` answers split over two hosts' configurations, against one
user and against 20 users (wall time, outcomes). Medians; nothing is asserted.
EMAILOTP_MODULE / EMAILOTP_BIN select a build that is not installed.
"""
import argparse
import concurrent.futures
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "IntegrationTests"))
from lib.env import TestSite  # noqa: E402
from lib.pamdriver import PAM_AUTH_ERR, PAM_SUCCESS, authenticate  # noqa: E402
from lib.pgcluster import PGCluster, PGSite  # noqa: E402

PIN = "bench-PIN-2026"


def newest_code(maildir):
    import email
    import email.policy
    from lib.mail import extract_code
    files = sorted(pathlib.Path(maildir, "new").iterdir(), key=lambda p: p.stat().st_mtime_ns)
    return extract_code(email.message_from_bytes(files[-1].read_bytes(), policy=email.policy.default))


def make_maildir(path):
    for sub in ("new", "cur", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def login_case(site, maildir, mode):
    def answer(style, text):
        if text == "PIN: ":
            return PIN
        return newest_code(maildir)

    def once():
        if mode == "interactive":
            res = authenticate("benchuser", site.stack(), answer, fork=False)
            want = PAM_SUCCESS
        else:
            res = authenticate("benchuser", site.stack("mode=challenge"), lambda s, t: PIN, fork=False)
            want = PAM_AUTH_ERR
        if res.rc != want:
            raise SystemExit("bench: unexpected PAM result: %s" % res.describe())
    return once


def timed(rounds, once):
    once()                                   # warm: page cache, first connection
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        once()
        samples.append(time.perf_counter() - start)
    return samples


def concurrency(a, b, users):
    names = ["cu%02d" % i for i in range(users)]
    for n in names:
        a.cli("delete", n)
        a.enroll(n, n + "@example.com", pin=PIN)
    jobs = []
    for i in range(100):
        site = a if i % 2 == 0 else b
        line = PIN if i % 4 < 2 else "wrong-%d" % i
        jobs.append((site, names[i % users], line))
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=100) as pool:
        codes = list(pool.map(lambda j: j[0].cli("check", j[1], input=j[2] + "\n", timeout=300).returncode, jobs))
    wall = time.perf_counter() - start
    fails = sum(int(a.read_record(n)["fail_count"]) for n in names)
    return wall, codes, fails


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root")
    root = pathlib.Path(tempfile.mkdtemp(prefix="emailotp-pgbench-"))
    os.chmod(root, 0o755)
    pg = PGCluster(root / "cluster")
    pg.start()
    try:
        pg.create_fleet()
        keys = {"resend_interval": 0, "max_mails_per_hour": 1000, "max_fail": 1000, "store_timeout": 60}
        mail_f, mail_p = make_maildir(root / "mail-file"), make_maildir(root / "mail-pg")
        files = TestSite(root, name="file", keys=dict(keys, mail_transport="maildir:%s" % mail_f))
        pga = PGSite(root, pg, name="pgA", keys=dict(keys, mail_transport="maildir:%s" % mail_p))
        pgb = PGSite(root, pg, name="pgB", keys=dict(keys, mail_transport="maildir:%s" % mail_p))
        pga.store_init()
        for site in (files, pga):
            site.enroll("benchuser", "bench@example.com", pin=PIN)
        results = {}
        for mode in ("interactive", "step1"):
            # interleaved, so that a load spike on the shared machine hits both stores alike
            f, p = [], []
            for _ in range(args.rounds):
                f += timed(1, login_case(files, mail_f, mode))
                p += timed(1, login_case(pga, mail_p, mode))
            results["file/" + mode] = f
            results["pg/" + mode] = p
        print("%-18s %10s %10s" % ("case", "median ms", "p90 ms"))
        for name, samples in results.items():
            s = sorted(samples)
            print("%-18s %10.1f %10.1f" % (name, 1000 * statistics.median(s), 1000 * s[int(0.9 * (len(s) - 1))]))
        for mode in ("interactive", "step1"):
            ratio = statistics.median(results["pg/" + mode]) / statistics.median(results["file/" + mode])
            print("pg/file %-11s %.2fx" % (mode, ratio))
        for users in (1, 20):
            wall, codes, fails = concurrency(pga, pgb, users)
            print("100 concurrent checks, 2 hosts, %2d user(s): %.1f s wall; exit codes %s; fail counts summed %d (wrong answers sent: 50)"
                  % (users, wall, {c: codes.count(c) for c in sorted(set(codes))}, fails))
    finally:
        pg.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
