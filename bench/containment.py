#!/usr/bin/python3
"""Database cost of an answer and of a login: today's statements beside the contained functions.

    sudo bench/containment.py [--answers N] [--rounds R] [--users U]

Starts a private PostgreSQL cluster (IntegrationTests/lib/pgcluster.py) with
pg_stat_statements, fsync on, creates today's tables (the statements of `emailotp store-init`)
and the prototype of bench/containment.sql, fills both with U users (an open challenge each),
and runs pgbench, one client over the Unix socket as the module's role, alternating:

  today      one answer as PostgresStore sends it: charge (BEGIN + SET LOCAL, SELECT ...
             FOR UPDATE with the lease, the clock, UPDATE with a new lease, COMMIT) and
             settle (the same with the lease cleared): 10 round trips, 2 commits
  contained  sealed.charge() then sealed.settle(): PIN and code compared inside the
             database with the code key, 2 round trips, 2 commits

Both answer a right PIN with a wrong code for a random user (both transactions write, the
charge is kept), so the rows and WAL written are alike. Then a whole interactive login each
way (the first read, the PIN's answer, arming the mailed challenge, the code's answer; the
contained one must be granted every time). Connections are kept open (pgbench without -C):
both designs open the same connections per login. Per answer: the cluster's CPU (every
PostgreSQL process, from /proc: the postmaster's own and reaped children's time plus the live
children's), pg_stat_statements' total_exec_time, and pgbench's latency. Also the database CPU of
one crypt() of a PIN with bcrypt (pgcrypto), for hashing PINs inside the database instead.
Nothing is asserted; the figures go to stdout.
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
sys.path.insert(0, str(HERE.parent / "IntegrationTests"))
from lib.pgcluster import AS_POSTGRES, MODULE_ROLE, OWNER, PGCluster  # noqa: E402

# The tables `emailotp store-init` makes (Admin/StoreInit.swift) and the grants it prints.
TODAY_SCHEMA = """
CREATE TABLE emailotp_meta (name text PRIMARY KEY, value text NOT NULL);
CREATE TABLE emailotp_key (id integer PRIMARY KEY CHECK (id = 1), key text NOT NULL CHECK (key ~ '^[0-9a-f]{64}$'));
CREATE TABLE emailotp_tokens (user_name text PRIMARY KEY, record text NOT NULL, updated timestamptz NOT NULL DEFAULT now());
INSERT INTO emailotp_meta VALUES ('schema_version', '1');
INSERT INTO emailotp_key VALUES (1, encode(sealed.gen_random_bytes(32), 'hex'));
GRANT CONNECT ON DATABASE emailotp TO %(m)s;
GRANT USAGE ON SCHEMA public TO %(m)s;
GRANT SELECT ON emailotp_meta, emailotp_key TO %(m)s;
GRANT SELECT, INSERT, UPDATE, DELETE ON emailotp_tokens TO %(m)s;
INSERT INTO sealed.code_key VALUES (1, sealed.gen_random_bytes(32));
INSERT INTO sealed.policy VALUES (1, 1000000000, 5000, 3, 300, 1000000000);
"""

PIN_HASH = "$y$j9T$Zk1vT2a4VfQm9XbR8s2kJ.$7nq1Qq2mYQf0wE0nV8JqzYh0Qy4m0rX1dKc3Lh6sP1B"
PIN_SETTING = "$y$j9T$Zk1vT2a4VfQm9XbR8s2kJ."


def record_text(user, tries):
    # A record like a login's: PIN, address, counters, one open challenge, a remembered host.
    return "\n".join([
        "emailotp-token 2", "user %s" % user, "email %s@example.org" % user, "pin %s" % PIN_HASH,
        "state active", "fail_count 0", "locked_at 0", "mails 1764990000 1764990300",
        "challenge 3f2a9c0d1e7b4a55 %s 1764990300 4102444800 %d" % ("ab" * 32, tries),
        "remembered 5c1d0e9f3a2b4c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d 4102444800",
    ]) + "\n"


def sql_literal(text):
    return "E'" + text.replace("\\", "\\\\").replace("'", "''").replace("\n", "\\n") + "'"


BEGIN = ("BEGIN\\; SET LOCAL lock_timeout = 4700\\; SET LOCAL statement_timeout = 4850\\; "
         "SET LOCAL idle_in_transaction_session_timeout = 10000;")
COMMIT = "SET LOCAL statement_timeout = 0\\; COMMIT;"
SELECT = ("SELECT record, updated > clock_timestamp() AND updated <= clock_timestamp() + interval '70 seconds', "
          "(extract(epoch FROM updated) * 1000000)::bigint::text FROM emailotp_tokens WHERE user_name = 'u' || :uid FOR UPDATE;")
CLOCK = "SELECT floor(extract(epoch FROM clock_timestamp()))::bigint;"


def today_answer():
    """An answer's two transactions as PostgresStore sends them (attempt: charge with a lease, settle)."""
    rec = sql_literal(record_text("u", 999999))
    return [
        BEGIN, SELECT, CLOCK,
        "UPDATE emailotp_tokens SET record = %s, updated = clock_timestamp() + 4500::bigint * interval '1 millisecond' "
        "WHERE user_name = 'u' || :uid RETURNING (extract(epoch FROM updated) * 1000000)::bigint::text;" % rec,
        COMMIT,
        BEGIN, SELECT, CLOCK,
        "UPDATE emailotp_tokens SET record = %s, updated = now() WHERE user_name = 'u' || :uid;" % rec,
        COMMIT,
    ]


def today_script(users):
    return "\n".join(["\\set uid random(1, %d)" % users] + today_answer()) + "\n"


def today_login(users):
    """An interactive login (PIN, mail, code): the read with the key, the PIN's answer, the
    write that arms the mailed challenge, the code's answer."""
    rec = sql_literal(record_text("u", 3))
    return "\n".join(["\\set uid random(1, %d)" % users,
                      BEGIN, "SELECT record FROM emailotp_tokens WHERE user_name = 'u' || :uid;",
                      "SELECT (SELECT value FROM emailotp_meta WHERE name = 'schema_version'), (SELECT key FROM emailotp_key WHERE id = 1);",
                      COMMIT]
                     + today_answer()
                     + [BEGIN, SELECT, CLOCK,
                        "UPDATE emailotp_tokens SET record = %s, updated = now() WHERE user_name = 'u' || :uid;" % rec, COMMIT]
                     + today_answer()) + "\n"


def contained_login(users):
    """The same login through the functions; every login must be granted (else 1/0 fails it)."""
    return "\n".join([
        "\\set uid random(1, %d)" % users,
        "\\set tx random(1, 2000000000)",
        "SELECT has_token FROM sealed.lookup('u' || :uid) \\gset",
        "SELECT charge_id FROM sealed.charge('u' || :uid, NULL, 4700) \\gset",
        "SELECT 1 / (sealed.settle('u' || :uid, :charge_id, '%s', NULL, 4700) = 'pin')::int AS pin \\gset" % PIN_HASH,
        "SELECT 1 / (sealed.arm('u' || :uid, 't' || :tx, '123456', 4700) IS NOT NULL)::int AS armed \\gset",
        "SELECT charge_id FROM sealed.charge('u' || :uid, 't' || :tx, 4700) \\gset",
        "SELECT 1 / (sealed.settle('u' || :uid, :charge_id, NULL, '123456', 4700) = 'granted')::int AS granted \\gset",
    ]) + "\n"


def contained_script(users):
    # One round trip per call, in its own transaction (autocommit): a call inside the caller's
    # transaction block would let it roll the charge back, which settle refuses.
    return "\n".join([
        "\\set uid random(1, %d)" % users,
        "SELECT charge_id FROM sealed.charge('u' || :uid, '3f2a9c0d1e7b4a55', 4700) \\gset",
        "SELECT sealed.settle('u' || :uid, :charge_id, '%s', '000000', 4700) AS verdict \\gset" % PIN_HASH,
    ]) + "\n"


def cluster_cpu_ticks(pg):
    """CPU time (clock ticks) of every PostgreSQL process of the cluster so far."""
    with open(os.path.join(pg.data, "postmaster.pid")) as f:
        master = int(f.readline())

    def fields(pid):
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()

    own = fields(master)
    total = sum(int(v) for v in own[11:15])          # utime stime cutime cstime
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = fields(int(entry))
            except OSError:
                continue
            if int(stat[1]) == master:
                total += int(stat[11]) + int(stat[12])
    return total


def pgbench(pg, script, answers, role):
    p = subprocess.run(AS_POSTGRES + [os.path.join(pg.bin, "pgbench"), "-n", "-M", "simple", "-c", "1",
                                      "-t", str(answers), "-h", pg.sockets, "-p", str(pg.port), "-U", role,
                                      "-f", script, "emailotp"],
                       capture_output=True, text=True, timeout=1800, cwd="/")
    if p.returncode != 0:
        raise RuntimeError("pgbench failed: %s%s" % (p.stdout, p.stderr))
    found = re.search(r"latency average = ([0-9.]+) ms", p.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", p.stdout)
    if failed and int(failed.group(1)):
        raise RuntimeError("pgbench: failed transactions\n" + p.stdout)
    return float(found.group(1))


def checks(pg, owner):
    """The prototype's behaviour, once, as two hosts' roles: what each may not do, a code bound
    to the host that armed it, a code good once, and no settle in the charge's own transaction."""
    pg.sql("CREATE ROLE emailotp_hostb LOGIN; GRANT CONNECT ON DATABASE emailotp TO emailotp_hostb")
    subprocess.run(owner + ["-c", "GRANT USAGE ON SCHEMA sealed TO emailotp_hostb; GRANT EXECUTE ON FUNCTION "
                            "sealed.charge(text, text, integer), sealed.settle(text, bigint, text, text, integer), "
                            "sealed.lookup(text), sealed.arm(text, text, text, integer) TO emailotp_hostb"],
                   check=True, cwd="/", capture_output=True)

    def host(role, script):
        argv = AS_POSTGRES + [os.path.join(pg.bin, "psql"), "-X", "-q", "-At", "-h", pg.sockets, "-p", str(pg.port),
                              "-U", role, "-d", "emailotp"]
        p = subprocess.run(argv, input=script, capture_output=True, text=True, cwd="/")
        return " ".join(line for line in (p.stdout + p.stderr).splitlines() if not line.startswith(("CONTEXT", "LINE", " ")))

    a, b = MODULE_ROLE, "emailotp_hostb"
    print("host A reads the code key: %s" % host(a, "SELECT key FROM sealed.code_key;"))
    print("host A reads a code hash: %s" % host(a, "SELECT code_hash FROM sealed.challenges LIMIT 1;"))
    print("host A changes an address: %s" % host(a, "UPDATE sealed.tokens SET address = 'evil@example.net' WHERE user_name = 'u2';"))
    print("host A reads today's key table: %s" % host(a, "SELECT count(*) FROM emailotp_key;"))
    print("host A arms a code for u1: %s" % host(a, "SELECT sealed.arm('u1', 'c0ffee', '123456', 4700);"))
    answer = ("SELECT charge_id FROM sealed.charge('u1', 'c0ffee', 4700) \\gset\n"
              "SELECT sealed.settle('u1', :charge_id, NULL, '123456', 4700);\n")
    print("host B answers it with the right code: %s" % host(b, answer))
    print("host A, charge and settle in one transaction: %s" % host(a, "BEGIN;\n" + answer + "ROLLBACK;\n"))
    print("host A answers it with the right code: %s" % host(a, answer))
    print("host A answers the same code again: %s" % host(a, answer))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--users", type=int, default=1000)
    args = ap.parse_args()
    tick_ms = 1000.0 / os.sysconf("SC_CLK_TCK")
    with tempfile.TemporaryDirectory(prefix="eotp-contain-") as tmp:
        os.chmod(tmp, 0o755)
        pg = PGCluster(pathlib.Path(tmp) / "pg")
        pg.start()
        try:
            pg.create_fleet()
            pg.configure(shared_preload_libraries="pg_stat_statements", fsync="on",
                         synchronous_commit="on", track_activity_query_size=8192)
            pg.stop()
            pg.start()
            pg.sql("CREATE EXTENSION pg_stat_statements")
            owner = AS_POSTGRES + [os.path.join(pg.bin, "psql"), "-X", "-q", "-h", pg.sockets, "-p", str(pg.port),
                                   "-U", OWNER, "-d", "emailotp", "-v", "ON_ERROR_STOP=1", "-v", "module=" + MODULE_ROLE]
            subprocess.run(owner + ["-f", str(HERE / "containment.sql")], check=True, cwd="/", capture_output=True)
            subprocess.run(owner + ["-c", TODAY_SCHEMA % {"m": MODULE_ROLE}], check=True, cwd="/", capture_output=True)
            rows = []
            for n in range(1, args.users + 1):
                user = "u%d" % n
                rows.append("INSERT INTO emailotp_tokens (user_name, record) VALUES ('%s', %s);" % (user, sql_literal(record_text(user, 999999))))
                rows.append("INSERT INTO sealed.tokens (user_name, address, pin_hash) VALUES ('%s', '%s@example.org', '%s');" % (user, user, PIN_HASH))
                rows.append("INSERT INTO sealed.challenges VALUES ('%s', '3f2a9c0d1e7b4a55', '%s', 4102444800, 1000000000, '%s');"
                            % (user, "ab" * 32, MODULE_ROLE))
            subprocess.run(owner, input="BEGIN;\n" + "\n".join(rows) + "\nCOMMIT;\nVACUUM ANALYZE;\n",
                           text=True, check=True, cwd="/", capture_output=True)
            scripts = {}
            for name, text in (("today answer", today_script(args.users)), ("contained answer", contained_script(args.users)),
                               ("today login", today_login(args.users)), ("contained login", contained_login(args.users))):
                path = pathlib.Path(tmp) / (name.replace(" ", "-") + ".pgb")
                path.write_text(text)
                os.chmod(path, 0o644)
                scripts[name] = str(path)
            checks(pg, owner)
            results = {name: [] for name in scripts}
            for name in scripts:                       # warm-up
                pgbench(pg, scripts[name], 200, MODULE_ROLE)
            for _ in range(args.rounds):
                for name in scripts:
                    pg.sql("SELECT pg_stat_statements_reset()")
                    before = cluster_cpu_ticks(pg)
                    latency = pgbench(pg, scripts[name], args.answers, MODULE_ROLE)
                    cpu = (cluster_cpu_ticks(pg) - before) * tick_ms / args.answers
                    stats = pg.sql("SELECT coalesce(sum(total_exec_time), 0), coalesce(sum(calls), 0) FROM pg_stat_statements "
                                   "WHERE query NOT LIKE '%pg_stat_statements%'")[0].split("|")
                    results[name].append((cpu, float(stats[0]) / args.answers, int(stats[1]) / args.answers, latency))
            bcrypt = pg.sql("EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON) SELECT sealed.crypt('1234-pin-' || g, "
                            "sealed.gen_salt('bf', 10)) FROM generate_series(1, 20) g")
            bcrypt_ms = float(re.search(r"Execution Time: ([0-9.]+) ms", "\n".join(bcrypt)).group(1)) / 20
        finally:
            pg.stop("immediate")
    print("\nper answer (right PIN + wrong code) and per login (PIN, arm, code: granted), %d each x %d rounds, "
          "%d users, one client, fsync on" % (args.answers, args.rounds, args.users))
    print("| | DB CPU ms (all processes) | exec time ms (pg_stat_statements) | statements | latency ms (pgbench) |")
    print("|---|---|---|---|---|")
    med = {}
    for name, runs in results.items():
        med[name] = [statistics.median(r[i] for r in runs) for i in range(4)]
        print("| %s | %s | %s | %.0f | %s |" % (
            name, " / ".join("%.3f" % r[0] for r in runs), " / ".join("%.3f" % r[1] for r in runs),
            med[name][2], " / ".join("%.3f" % r[3] for r in runs)))
    for what in ("answer", "login"):
        t, c = med["today " + what], med["contained " + what]
        print("contained / today per %s (medians): DB CPU %.2f, exec time %.2f, latency %.2f"
              % (what, c[0] / t[0], c[1] / t[1], c[3] / t[3]))
    print("bcrypt (pgcrypto crypt, bf cost 10) in the database: %.1f ms per PIN" % bcrypt_ms)


if __name__ == "__main__":
    main()
