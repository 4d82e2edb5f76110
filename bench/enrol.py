#!/usr/bin/python3
"""Bulk enrolment and enrolment at the first login, on the file store and on PostgreSQL.

    sudo bench/enrol.py [--users N] [--rounds N]

Starts a private PostgreSQL cluster on a loopback port (IntegrationTests/lib/pgcluster.py) and,
in one run, for each store:
  bulk        `emailotp enroll --from FILE --pending` of N users (default 1,000): wall seconds
  rerun       the same command again (every user unchanged): wall seconds
  login       an ordinary interactive login (PIN + mailed code into a Maildir), in-process
  enrol       the first login of a pending user (code mailed, new PIN twice, code; the PIN
              hash made, the token activated, the enrolled alert mailed), in-process
and the ratio enrol/login (medians, rounds interleaved so that a load spike hits both alike).
Nothing is asserted. EMAILOTP_MODULE / EMAILOTP_BIN select a build that is not installed.
"""
import argparse
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "IntegrationTests"))
sys.path.insert(0, str(HERE))
from lib.env import TestSite  # noqa: E402
from lib.pamdriver import PAM_SUCCESS, authenticate  # noqa: E402
from lib.pgcluster import PGCluster, PGSite  # noqa: E402
from pg_store import PIN, make_maildir, newest_code  # noqa: E402


def bulk(site, listing):
    start = time.perf_counter()
    p = site.cli("enroll", "--from", listing, "--pending", timeout=3600)
    wall = time.perf_counter() - start
    if p.returncode != 0:
        raise SystemExit("bench: enroll --from failed: %s" % p.stderr)
    return wall, p.stdout.splitlines()[-1]


def login(site, maildir, user):
    def answer(style, text):
        if text in ("PIN: ", "New PIN: ", "Repeat the new PIN: "):
            return PIN
        return newest_code(maildir)
    start = time.perf_counter()
    res = authenticate(user, site.stack(), answer, fork=False)
    elapsed = time.perf_counter() - start
    if res.rc != PAM_SUCCESS:
        raise SystemExit("bench: %s: unexpected PAM result: %s" % (user, res.describe()))
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root")
    root = pathlib.Path(tempfile.mkdtemp(prefix="emailotp-enrolbench-"))
    os.chmod(root, 0o755)
    listing = root / "users.txt"
    listing.write_text("".join("u%05d u%05d@corp.example\n" % (i, i) for i in range(args.users)))
    pg = PGCluster(root / "cluster")
    pg.start()
    try:
        pg.create_fleet()
        keys = {"resend_interval": 0, "max_mails_per_hour": 1000, "max_fail": 1000, "store_timeout": 60,
                "notify": "lockout,recovery"}
        mail_f, mail_p = make_maildir(root / "mail-file"), make_maildir(root / "mail-pg")
        files = TestSite(root, name="file", keys=dict(keys, mail_transport="maildir:%s" % mail_f))
        pgs = PGSite(root, pg, name="pg", keys=dict(keys, mail_transport="maildir:%s" % mail_p))
        pgs.store_init()
        stores = {"file": (files, mail_f), "pg": (pgs, mail_p)}
        print("%-6s %-7s %s" % ("store", "case", "result"))
        for name, (site, _) in stores.items():
            wall, summary = bulk(site, listing)
            print("%-6s %-7s %.2f s for %d users (%.2f ms/user): %s" % (name, "bulk", wall, args.users,
                                                                        1000 * wall / args.users, summary))
            wall, summary = bulk(site, listing)
            print("%-6s %-7s %.2f s: %s" % (name, "rerun", wall, summary))
            site.enroll("benchuser", "bench@example.com", pin=PIN)
        for name, (site, maildir) in stores.items():
            login(site, maildir, "benchuser")                  # warm
            normal, enrol = [], []
            for i in range(args.rounds):
                normal.append(login(site, maildir, "benchuser"))
                enrol.append(login(site, maildir, "u%05d" % i))
            m_normal, m_enrol = statistics.median(normal), statistics.median(enrol)
            print("%-6s %-7s median %.1f ms" % (name, "login", 1000 * m_normal))
            print("%-6s %-7s median %.1f ms (%.2fx an ordinary login, %+.1f ms)"
                  % (name, "enrol", 1000 * m_enrol, m_enrol / m_normal, 1000 * (m_enrol - m_normal)))
    finally:
        pg.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
