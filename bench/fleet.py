#!/usr/bin/python3
"""A fleet under sustained load: logins across namespaced hosts at a fixed rate, on the file
store, on PostgreSQL directly and through PgBouncer, then a failover under load (async and sync).

    sudo /work/tools/sandbox-run BRANCH bench/fleet.py [--hosts 20] [--rate 1000] [--slice 30] [--rounds 2]

Builds the fleet of IntegrationTests/lib/fleet.py (a bridge, one network namespace per host,
each with its own address, emailotp.conf, PAM service and Maildir), a primary and a hot standby
(pg_basebackup, streaming replication; fsync on) and PgBouncer (transaction pooling, SCRAM).
A login is challenge mode's two PAM transactions, each a fresh process (bench/pamrun, as sshd
runs one): the PIN (code mailed), then PIN + code. Logins are sent open-loop at --rate per
minute, round-robin over the hosts, in slices of --slice seconds rotating file → pg →
pgbouncer (interleaved, --rounds times). Per case: login latency p50/p99, each step's, the
database's CPU (postmaster and every backend, from /proc) per login and as a share of one core,
and its client connections (sampled). Then the connection cost of one PAM transaction's
database work (connect + SCRAM, + TLS, the transaction), and the failover: load at the same
rate, the primary killed (pg_ctl stop -m immediate) and the standby promoted; the gap (longest
time without a successful login) and what was lost: the codes granted in the last seconds
before the crash, answered again on the promoted standby. Prints Markdown; asserts nothing.
"""
import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "IntegrationTests"))
from lib.fleet import Fleet, PgBouncer  # noqa: E402
from lib.pgcluster import PGCluster, MODULE_PASSWORD, free_port  # noqa: E402

PIN = "bench-PIN-2026"
USERS = 120


class Driver:
    """bench/fleet_driver.py inside one host's namespace; jobs by id, answers collected."""

    def __init__(self, host):
        self.host = host
        argv = ["ip", "netns", "exec", host.name, sys.executable, str(HERE / "fleet_driver.py"),
                host.fleet.pamrun, str(host.pamdir), host.service, str(host.maildir), PIN]
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.results = {}
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            r = json.loads(line)
            with self.cv:
                self.results[r["id"]] = r
                self.cv.notify_all()

    def send(self, job):
        self.p.stdin.write(json.dumps(job) + "\n")
        self.p.stdin.flush()

    def wait(self, ids, cap=120):
        """The results of `ids`; one that never came counts as failed (rc None)."""
        deadline = time.monotonic() + cap
        with self.cv:
            while not all(i in self.results for i in ids):
                left = deadline - time.monotonic()
                if left <= 0:
                    sys.stderr.write("bench: driver %s: no answer for %r\n" % (self.host.name, ids))
                    break
                self.cv.wait(left)
            return [self.results.get(i, {"id": i, "rc1": None, "t1": 0.0, "rc2": None, "t2": 0.0,
                                          "end": time.monotonic()}) for i in ids]

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=60)


def cpu_seconds(cluster):
    """CPU seconds of the postmaster, its live children and its reaped ones."""
    pid = int(open(os.path.join(cluster.data, "postmaster.pid")).readline())
    tick = os.sysconf("SC_CLK_TCK")

    def fields(p):
        with open("/proc/%d/stat" % p) as f:
            return f.read().rsplit(")", 1)[1].split()

    total = sum(int(x) for x in fields(pid)[11:15])          # utime stime cutime cstime
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            f = fields(int(entry))
            if int(f[1]) == pid:                                # a live child: its own time
                total += int(f[11]) + int(f[12])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return total / tick


def process_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(samples, q):
    if not samples:
        return float("nan")
    s = sorted(samples)
    return s[min(len(s) - 1, int(round(q / 100.0 * (len(s) - 1))))]


class Load:
    def __init__(self, fleet, drivers):
        self.fleet, self.drivers = fleet, drivers
        self.next_id = 0

    def run(self, seconds, rate, users, event=None, event_at=None):
        """Open-loop logins at `rate` per minute for `seconds`; `event` runs once at `event_at`
        seconds (in another thread). [(driver index, job, result, sent_at)]."""
        interval = 60.0 / rate
        count = int(seconds / interval)
        sent = []
        start = time.monotonic()
        fired = None
        for k in range(count):
            due = start + k * interval
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)      # pacing of an open-loop load, not synchronisation
            if event and fired is None and time.monotonic() - start >= event_at:
                fired = threading.Thread(target=event)
                fired.start()
            d = k % len(self.drivers)
            job = {"id": self.next_id, "user": users[k % len(users)]}
            self.next_id += 1
            self.drivers[d].send(job)
            sent.append((d, job, time.monotonic()))
        if fired:
            fired.join()
        out = []
        for d, job, at in sent:
            out.append((d, job, self.drivers[d].wait([job["id"]])[0], at))
        return out


def summary(results):
    ok = [r for _, _, r, _ in results if r["rc2"] == 0]
    logins = [r["t1"] + r["t2"] for r in ok]
    return {
        "logins": len(results), "ok": len(ok),
        "p50": pct(logins, 50), "p99": pct(logins, 99),
        "s1p50": pct([r["t1"] for r in ok], 50), "s1p99": pct([r["t1"] for r in ok], 99),
        "s2p50": pct([r["t2"] for r in ok], 50), "s2p99": pct([r["t2"] for r in ok], 99),
    }


def connections(cluster, stop, samples):
    while not stop.is_set():
        try:
            n = int(cluster.sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                                "AND datname = 'emailotp'", database="postgres")[0])
            samples.append(n)
        except Exception:
            pass
        stop.wait(1.0)


def make_primary(fleet, directory, port, standby=False, sync=False):
    primary = PGCluster(directory / "primary", port=port, listen=fleet.db_address(0), clients=fleet.cidr,
                        name="primary", netns=fleet.hub)
    with open(os.path.join(primary.data, "postgresql.conf"), "a") as f:
        f.write("fsync = on\nshared_buffers = 128MB\n")
    primary.start()
    primary.create_fleet()
    init = fleet.store_init(primary, directory)
    sb = None
    if standby:
        if sync:
            primary.configure(synchronous_standby_names="standby1", synchronous_commit="on")
        sb = PGCluster(directory / "standby", port=port, listen=fleet.db_address(1), standby_of=primary,
                       name="standby1", netns=fleet.hub)
        sb.start()
        deadline = time.monotonic() + 60
        want = "sync" if sync else "async"
        while not primary.sql("SELECT 1 FROM pg_stat_replication WHERE sync_state = '%s' AND state = 'streaming'" % want):
            if time.monotonic() > deadline:
                raise SystemExit("bench: the standby does not stream")
            time.sleep(0.1)
    return primary, sb, init


def configure(fleet, store, password_file=None, timeout=5):
    keys = dict(store=store, store_timeout=timeout, resend_interval=0, max_mails_per_hour=1000, max_fail=1000)
    if password_file:
        keys["store_password_file"] = str(password_file)
    else:
        keys["store_password_file"] = None
    for h in fleet.hosts:
        h.configure(**keys)


def enroll_pg(fleet, users):
    h = fleet.hosts[0]
    for u in users:
        h.enroll(u, PIN)


def enroll_files(fleet, users):
    """Enrolled once into host 0's file store, copied to every other host's."""
    h0 = fleet.hosts[0]
    for h in fleet.hosts:
        h.configure(store=str(h.site.store), store_password_file=None)
    for u in users:
        h0.enroll(u, PIN)
    for h in fleet.hosts[1:]:
        shutil.rmtree(h.site.store)
        shutil.copytree(h0.site.store, h.site.store, symlinks=True)


def uri_pair(fleet, port):
    return ("postgresql://emailotp_module@%s:%d,%s:%d/emailotp?sslmode=disable&target_session_attrs=read-write"
            % (fleet.db_address(0), port, fleet.db_address(1), port))


def connection_cost(fleet, primary, bouncer, rounds=200):
    """libpq through ctypes, from host 0's namespace: connect (+SCRAM, +TLS) and one
    transaction like the module's update, median ms."""
    script = r'''
import ctypes, json, sys, time
pq = ctypes.CDLL("libpq.so.5")
pq.PQconnectdb.restype = ctypes.c_void_p; pq.PQconnectdb.argtypes = [ctypes.c_char_p]
pq.PQstatus.argtypes = [ctypes.c_void_p]; pq.PQfinish.argtypes = [ctypes.c_void_p]
pq.PQexec.restype = ctypes.c_void_p; pq.PQexec.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
pq.PQresultStatus.argtypes = [ctypes.c_void_p]; pq.PQclear.argtypes = [ctypes.c_void_p]
pq.PQerrorMessage.restype = ctypes.c_char_p; pq.PQerrorMessage.argtypes = [ctypes.c_void_p]
TX = ["BEGIN; SET LOCAL lock_timeout = 5000; SET LOCAL statement_timeout = 5250; SET LOCAL idle_in_transaction_session_timeout = 10000",
      "SELECT record FROM emailotp_tokens WHERE user_name = 'u000' FOR UPDATE",
      "SELECT floor(extract(epoch FROM clock_timestamp()))::bigint",
      "UPDATE emailotp_tokens SET updated = now() WHERE user_name = 'u000'",
      "SET LOCAL statement_timeout = 0; COMMIT"]
out = {}
for name, conninfo in json.loads(sys.argv[1]).items():
    c, t = [], []
    for i in range(int(sys.argv[2])):
        s = time.perf_counter()
        conn = pq.PQconnectdb(conninfo.encode())
        if pq.PQstatus(conn) != 0:
            raise SystemExit(pq.PQerrorMessage(conn))
        m = time.perf_counter()
        for q in TX:
            r = pq.PQexec(conn, q.encode())
            if pq.PQresultStatus(r) not in (1, 2):
                raise SystemExit(pq.PQerrorMessage(conn))
            pq.PQclear(r)
        e = time.perf_counter()
        pq.PQfinish(conn)
        c.append(m - s); t.append(e - m)
    c.sort(); t.sort()
    out[name] = (c[len(c) // 2] * 1000, t[len(t) // 2] * 1000)
print(json.dumps(out))
'''
    base = "host=%s port=%d dbname=emailotp user=emailotp_module password=%s" % (
        fleet.db_address(0), primary.port, MODULE_PASSWORD)
    targets = {
        "direct, SCRAM, no TLS": base + " sslmode=disable",
        "direct, SCRAM, TLS": base + " sslmode=require",
        "PgBouncer, SCRAM, no TLS": "host=%s port=%d dbname=emailotp user=emailotp_module password=%s sslmode=disable"
                                    % (bouncer.listen, bouncer.port, MODULE_PASSWORD),
    }
    p = fleet.hosts[0].ns([sys.executable, "-c", script, json.dumps(targets), str(rounds)], timeout=600)
    return json.loads(p.stdout)


def enable_tls(cluster, directory):
    key, crt = directory / "server.key", directory / "server.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "2", "-subj", "/CN=emailotp-bench"], check=True, capture_output=True)
    import pwd
    pw = pwd.getpwnam("postgres")
    for f in (key, crt):
        os.chown(f, pw.pw_uid, pw.pw_gid)
        os.chmod(f, 0o600)
    cluster.configure(ssl="on", ssl_cert_file=str(crt), ssl_key_file=str(key))


def failover_run(fleet, drivers, directory, rate, sync, seconds=40, at=15):
    """Load at `rate`; at `at` s the primary dies and the standby is promoted."""
    port = free_port()
    primary, standby, init = make_primary(fleet, directory, port, standby=True, sync=sync)
    try:
        configure(fleet, uri_pair(fleet, port), init.password_file, timeout=3)
        users = ["u%03d" % i for i in range(USERS)]
        enroll_pg(fleet, users)
        load = Load(fleet, drivers)
        marks = {}

        def crash():
            marks["crash"] = time.monotonic()
            primary.stop("immediate")
            standby.promote()
            if sync:
                standby.configure(synchronous_standby_names="")
            marks["promoted"] = time.monotonic()

        results = load.run(seconds, rate, users, event=crash, event_at=at)
        ok_ends = sorted(r["end"] for _, _, r, _ in results if r["rc2"] == 0)
        # the gap: from the last successful login before the crash to the first one after it
        before = [e for e in ok_ends if e <= marks["crash"]]
        after = [e for e in ok_ends if e > marks["crash"]]
        gap = (after[0] if after else float("inf")) - (before[-1] if before else marks["crash"])
        # codes granted in the 2 s before the crash, answered again on the promoted standby
        recent = [(d, job, r) for d, job, r, _ in results if r["rc2"] == 0 and marks["crash"] - 2 <= r["end"] <= marks["crash"]]
        replays = []
        for d, job, r in recent:
            rid = load.next_id
            load.next_id += 1
            drivers[d].send({"id": rid, "user": job["user"], "answer": PIN + r["code"]})
            replays.append(drivers[d].wait([rid])[0]["rc1"])
        failed = sum(1 for _, _, r, _ in results if r["rc2"] != 0 and r["rc1"] != 7)
        return {"gap": gap, "promote": marks["promoted"] - marks["crash"], "recent": len(recent),
                "accepted_again": replays.count(0), "logins": len(results),
                "ok": len(ok_ends), "unavailable": failed}
    finally:
        standby.stop("immediate")
        primary.stop("immediate")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--rate", type=int, default=1000, help="logins per minute")
    ap.add_argument("--slice", type=int, default=30, help="seconds per case and round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--no-failover", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root (inside /work/tools/sandbox-run)")
    d = pathlib.Path(tempfile.mkdtemp(prefix="emailotp-benchfleet-"))
    os.chmod(d, 0o755)
    users = ["u%03d" % i for i in range(USERS)]
    try:
        with Fleet(d, hosts=args.hosts) as fleet:
            drivers = [Driver(h) for h in fleet.hosts]
            port = free_port()
            primary, _, init = make_primary(fleet, d / "db", port)
            bouncer = PgBouncer(fleet, d / "pgbouncer", primary, fleet.db_address(2), pool_size=10).start()
            enroll_files(fleet, users)
            configure(fleet, primary.uri(), init.password_file)
            enroll_pg(fleet, users)
            stores = {
                "file": lambda: [h.configure(store=str(h.site.store), store_password_file=None) for h in fleet.hosts],
                "pg": lambda: configure(fleet, primary.uri(), init.password_file),
                "pgbouncer": lambda: configure(fleet, bouncer.uri(), init.password_file),
            }
            load = Load(fleet, drivers)
            stats = {k: {"results": [], "cpu": 0.0, "seconds": 0.0, "conns": []} for k in stores}
            for _ in range(args.rounds):
                for case, setup in stores.items():
                    setup()
                    stop, samples = threading.Event(), []
                    sampler = threading.Thread(target=connections, args=(primary, stop, samples), daemon=True)
                    sampler.start()
                    c0, b0, t0 = cpu_seconds(primary), process_cpu_seconds(bouncer.process.pid), time.monotonic()
                    res = load.run(args.slice, args.rate, users)
                    c1, b1, t1 = cpu_seconds(primary), process_cpu_seconds(bouncer.process.pid), time.monotonic()
                    stop.set()
                    sampler.join()
                    s = stats[case]
                    s["results"] += res
                    s["cpu"] += c1 - c0
                    s["bouncer"] = s.get("bouncer", 0.0) + b1 - b0
                    s["seconds"] += t1 - t0
                    s["conns"] += samples
            print("## Sustained logins: %d hosts, %d logins/min, %d × %d s slices per case, interleaved\n"
                  % (args.hosts, args.rate, args.rounds, args.slice))
            print("| case | logins | succeeded | login p50 | login p99 | PIN step p50/p99 | code step p50/p99 "
                  "| DB CPU per login | DB CPU (share of one core) | PgBouncer CPU per login | DB client connections avg/max |")
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            for case, s in stats.items():
                m = summary(s["results"])
                per = s["cpu"] / max(m["logins"], 1) * 1000
                conns = s["conns"] or [0]
                print("| %s | %d | %d | %.0f ms | %.0f ms | %.0f / %.0f ms | %.0f / %.0f ms | %.2f ms | %.0f %% | %.2f ms | %.1f / %d |"
                      % (case, m["logins"], m["ok"], m["p50"] * 1000, m["p99"] * 1000, m["s1p50"] * 1000,
                         m["s1p99"] * 1000, m["s2p50"] * 1000, m["s2p99"] * 1000, per,
                         100 * s["cpu"] / max(s["seconds"], 1e-9), s["bouncer"] / max(m["logins"], 1) * 1000,
                         statistics.mean(conns), max(conns)))
            enable_tls(primary, d)
            cost = connection_cost(fleet, primary, bouncer)
            print("\n## One PAM transaction's database work (from a host's namespace, median of 200)\n")
            print("| path | connect (TCP + startup + SCRAM [+ TLS]) | the transaction (5 round trips) |")
            print("|---|---|---|")
            for name, (c, t) in cost.items():
                print("| %s | %.2f ms | %.2f ms |" % (name, c, t))
            bouncer.stop()
            primary.stop("immediate")
            if not args.no_failover:
                print("\n## Failover under load (%d logins/min, primary killed at 15 s, standby promoted)\n" % args.rate)
                print("| replication | logins | succeeded | failed closed | promote took | longest gap without a successful login "
                      "| codes granted in the 2 s before the crash | of those, accepted again after |")
                print("|---|---|---|---|---|---|---|---|")
                for sync in (False, True):
                    r = failover_run(fleet, drivers, d / ("fo-%s" % sync), args.rate, sync)
                    print("| %s | %d | %d | %d | %.1f s | %.1f s | %d | %d |"
                          % ("synchronous (on)" if sync else "asynchronous", r["logins"], r["ok"], r["unavailable"],
                             r["promote"], r["gap"], r["recent"], r["accepted_again"]))
            for drv in drivers:
                drv.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
