"""A fleet that survives its database (docs/fleet.md): hosts in network namespaces, each with its
own address, emailotp.conf and PAM service, logging in through real libpam (bench/pamrun) over a
bridge to a primary and a hot standby (streaming replication), through PgBouncer in transaction
pooling mode, and under faults: a standby promoted while logins run, a host's clock hours off, a
link that drops packets, a database that answers slowly.

The guarantee tested: with synchronous replication no code is accepted twice and no fail count
is lost across a failover; with asynchronous replication the test shows what is lost.
Results are pam_authenticate's: 0 success, 7 PAM_AUTH_ERR (refused, counted), 9
PAM_AUTHINFO_UNAVAIL (the store could not answer: fail closed, nothing granted)."""

import concurrent.futures
import os
import shutil
import tempfile
import threading
import time

import pytest

from lib.fleet import Fleet, DelayProxy, PgBouncer
from lib.env import parse_record
from lib.pgcluster import PGCluster, MODULE_PASSWORD, free_port

pytestmark = pytest.mark.fleet

N_HOSTS = int(os.environ.get("EMAILOTP_FLEET_HOSTS", "4"))
PIN = "fleet-PIN-2026"
SUCCESS, REFUSED, UNAVAILABLE = 0, 7, 9
# A refusal must come within store_timeout (a few seconds); this cap only catches a hang.
HANG_CAP = 60
STORE_TIMEOUT = 3


@pytest.fixture(scope="module")
def net(product):
    d = tempfile.mkdtemp(prefix="emailotp-fleet-")
    os.chmod(d, 0o755)
    try:
        with Fleet(d, hosts=N_HOSTS) as fleet:
            yield fleet
    finally:
        shutil.rmtree(d, ignore_errors=True)


def wait_for(condition, what, cap=HANG_CAP):
    """Polls `condition` until it holds (a state the test waits for, not a time)."""
    deadline = time.monotonic() + cap
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "never happened: " + what
        time.sleep(0.05)


class Database:
    """A primary (and a hot standby unless standby=False) on the fleet's bridge addresses."""

    def __init__(self, net, directory, standby=True, sync=False):
        self.net = net
        self.port = free_port()
        self.primary = PGCluster(directory / "primary", port=self.port, listen=net.db_address(0),
                                 clients=net.cidr, name="primary", netns=net.hub)
        self.primary.start()
        self.primary.create_fleet()
        self.init = net.store_init(self.primary, directory)
        self.standby = None
        if standby:
            if sync:
                self.primary.configure(synchronous_standby_names="standby1", synchronous_commit="on")
            self.standby = PGCluster(directory / "standby", port=self.port, listen=net.db_address(1),
                                     standby_of=self.primary, name="standby1", netns=net.hub)
            self.standby.start()
            want = "sync" if sync else "async"
            wait_for(lambda: self.primary.sql("SELECT 1 FROM pg_stat_replication WHERE application_name = "
                                              "'standby1' AND state = 'streaming' AND sync_state = '%s'" % want),
                     "the standby streams (%s)" % want)

    def uri(self):
        hosts = [self.net.db_address(0)] + ([self.net.db_address(1)] if self.standby else [])
        return ("postgresql://emailotp_module@%s/emailotp?sslmode=disable&target_session_attrs=read-write"
                % ",".join("%s:%d" % (h, self.port) for h in hosts))

    def configure_hosts(self, uri=None, **keys):
        settings = dict(store=uri or self.uri(), store_password_file=str(self.init.password_file),
                        store_timeout=STORE_TIMEOUT, resend_interval=0, max_mails_per_hour=1000,
                        max_fail=1000, max_fail_source=1000)
        settings.update(keys)
        for host in self.net.hosts:
            host.configure(**settings)

    def caught_up(self):
        """Waits until the standby has replayed everything the primary wrote."""
        lsn = self.primary.sql("SELECT pg_current_wal_lsn()", database="postgres")[0]
        wait_for(lambda: self.standby.sql("SELECT pg_last_wal_replay_lsn() >= '%s'" % lsn,
                                          database="postgres") == ["t"], "the standby catches up")

    def cut_replication(self):
        """The standby stops receiving WAL (its primary_conninfo names no server): it lags."""
        self.standby.configure(primary_conninfo="host=/nonexistent")
        wait_for(lambda: not self.primary.sql("SELECT 1 FROM pg_stat_replication"), "replication stops")

    def restore_replication(self):
        """The standby receives WAL again (its own primary_conninfo) and is synchronous again."""
        self.standby.sql("ALTER SYSTEM RESET primary_conninfo", database="postgres")
        self.standby.sql("SELECT pg_reload_conf()", database="postgres")
        wait_for(lambda: self.primary.sql("SELECT 1 FROM pg_stat_replication WHERE state = 'streaming' "
                                          "AND sync_state = 'sync'", database="postgres"),
                 "the standby streams again (sync)")

    def fail_over(self):
        """The primary dies; the standby is promoted. It inherited synchronous_standby_names
        (the base backup copies postgresql.auto.conf) and has no standby of its own: until
        that is cleared its every write would wait (docs/fleet.md, failover)."""
        self.primary.stop("immediate")
        self.standby.promote()
        self.standby.configure(synchronous_standby_names="")

    def fail_count(self, user, cluster=None):
        return int(parse_record((cluster or self.primary).record_text(user))["fail_count"])

    def close(self):
        for cluster in (self.standby, self.primary):
            if cluster is not None:
                cluster.stop("immediate")


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="emailotp-fleetdb-")
    os.chmod(d, 0o755)
    import pathlib
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def database(net, workdir, request):
    marker = request.node.get_closest_marker("replication")
    kind = marker.args[0] if marker else "none"
    db = Database(net, workdir, standby=kind != "none", sync=kind == "sync")
    db.configure_hosts()
    yield db
    db.close()


def host(net, i):
    return net.hosts[i % len(net.hosts)]


def open_challenges(net, users):
    """Step one for each user on a host of its own: {user: code}."""
    codes = {}
    for i, user in enumerate(users):
        h = host(net, i)
        r = h.login(user, PIN)
        assert r.rc == REFUSED, r
        codes[user] = h.code_for(user)
    return codes


def wrong(code):
    return "".join(str((int(c) + 1) % 10) for c in code)


# -- the fleet itself

def test_hosts_log_in_over_their_own_addresses(net, database):
    assert "note: no standby replicates the store's server" in net.hosts[0].cli("config-check", check=True).stdout
    database.primary.configure(log_connections="on")
    users = ["net%d" % i for i in range(len(net.hosts))]
    for user in users:
        net.hosts[0].enroll(user, PIN)
    codes = open_challenges(net, users)
    # each code answered on the next host: a challenge opened on one host is answered on another
    for i, user in enumerate(users):
        r = host(net, i + 1).login(user, PIN + codes[user])
        assert r.rc == SUCCESS, r
        assert host(net, i + 2).login(user, PIN + codes[user]).rc == REFUSED
    with open(database.primary.log) as f:
        log = f.read()
    for h in net.hosts:
        assert "connection received: host=%s " % h.address in log, h.address
    assert "host=127.0.0.1" not in log


# -- failover

def run_during_failover(net, db, right, wrong_users, codes, threads=4):
    """Logins run on every host while the primary dies and the standby is promoted; each
    worker keeps going until two rounds after the promotion. The right users answer their
    code, the wrong ones a wrong PIN (each one a counted failure, however many).
    [(user, answer_kind, rc, seconds, started_after_the_promotion)]."""
    promoted = threading.Event()
    started = threading.Barrier(threads + 1)
    results, lock = [], threading.Lock()

    def worker(w):
        started.wait()
        rounds_after = 0
        for n in range(400):                      # bounded: the promotion comes long before
            for i, user in enumerate(right + wrong_users):
                if (i + w) % threads:
                    continue
                kind = "right" if user in right else "wrong"
                answer = PIN + codes[user] if kind == "right" else "wrong-PIN-%d" % n
                after = promoted.is_set()
                r = host(net, n + i + w).login(user, answer)
                with lock:
                    results.append((user, kind, r.rc, r.seconds, after))
            if promoted.is_set():
                rounds_after += 1
                if rounds_after >= 2:
                    return

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(worker, w) for w in range(threads)]
        started.wait()
        wait_for(lambda: len(results) >= 2 * threads, "logins before the failover")
        db.fail_over()
        promoted.set()
        for f in futures:
            f.result()
    return results


def check_outcomes(results):
    for user, kind, rc, seconds, _ in results:
        assert rc in (SUCCESS, REFUSED, UNAVAILABLE), (user, kind, rc)
        assert seconds < HANG_CAP, (user, kind, rc, seconds)


@pytest.mark.replication("sync")
def test_sync_failover_while_logins_run_accepts_no_code_twice_and_keeps_every_count(net, database):
    right = ["sr%d" % i for i in range(4)]
    wrong_users = ["sw%d" % i for i in range(4)]
    for user in right + wrong_users:
        net.hosts[0].enroll(user, PIN)
    codes = open_challenges(net, right)
    counted_before = {u: database.fail_count(u) for u in wrong_users}
    results = run_during_failover(net, database, right, wrong_users, codes)
    check_outcomes(results)
    new = database.standby
    for user in right:
        grants = [r for r in results if r[0] == user and r[2] == SUCCESS]
        assert len(grants) <= 1, (user, grants)
        # tried again after the run, on every host: a code granted before is refused now
        replays = [h.login(user, PIN + codes[user]).rc for h in net.hosts]
        # at most once: an answer cut off by the failure may have used the code unseen
        assert len(grants) + replays.count(SUCCESS) <= 1, (user, grants, replays)
    for user in wrong_users:
        mine = [r for r in results if r[0] == user]
        acknowledged = sum(1 for r in mine if r[2] == REFUSED)
        unknown = sum(1 for r in mine if r[2] == UNAVAILABLE)
        count = database.fail_count(user, new) - counted_before[user]
        # every failure the module answered as counted is on the promoted standby; an answer
        # cut off by the failure may or may not have been counted
        assert acknowledged <= count <= acknowledged + unknown, (user, acknowledged, unknown, count)
    # logins went on before the failover, and the promoted standby took writes after it
    assert any(r[2] == SUCCESS for r in results if not r[4])
    assert any(r[2] == REFUSED for r in results if r[4] and r[1] == "wrong")


def answers_to_a_lagging_standby(net, database, right, wrong_user, report):
    """config-check says `report`; a code is opened and replicated, then the standby is cut
    off (it lags from here on). The code."""
    out = net.hosts[0].cli("config-check", check=True).stdout
    assert report in out, out
    net.hosts[0].enroll(right, PIN)
    net.hosts[0].enroll(wrong_user, PIN)
    code = open_challenges(net, [right])[right]
    database.caught_up()
    database.cut_replication()
    return code


@pytest.mark.replication("async")
def test_async_failover_loses_the_answers_the_standby_lacked(net, database):
    """What asynchronous replication loses: a standby that lags (here: cut off) when the
    primary dies is promoted without the last answers, so a code already accepted is accepted
    again, and the failures counted meanwhile are forgotten (docs/fleet.md)."""
    code = answers_to_a_lagging_standby(net, database, "aright", "awrong",
                                        "note: asynchronous replication: 1 standby(s) stream")
    assert host(net, 0).login("aright", PIN + code).rc == SUCCESS
    for i in range(3):
        assert host(net, i).login("awrong", "wrong-PIN-%d" % i).rc == REFUSED
    assert database.fail_count("awrong") == 3
    database.fail_over()
    # the promoted standby never saw the answer: the same code is accepted a second time
    assert host(net, 1).login("aright", PIN + code).rc == SUCCESS
    assert host(net, 2).login("aright", PIN + code).rc == REFUSED
    assert database.fail_count("awrong", database.standby) == 0


@pytest.mark.replication("sync")
def test_config_check_reads_sync_state(net, database):
    """A standby that streams but is not the one synchronous_standby_names names is
    asynchronous: config-check says so instead of promising that answers survive a failover;
    without pg_read_all_stats it says that it could not check."""
    out = net.hosts[0].cli("config-check", check=True).stdout
    assert "cannot read pg_stat_replication's sync_state" in out, out
    database.primary.sql("GRANT pg_read_all_stats TO emailotp_module", database="postgres")
    out = net.hosts[0].cli("config-check", check=True).stdout
    assert "survive a failover" in out and "warning" not in out and "cannot read" not in out, out
    database.primary.configure(synchronous_standby_names="nosuch")
    wait_for(lambda: database.primary.sql("SELECT 1 FROM pg_stat_replication WHERE sync_state = 'async'"),
             "the standby streams asynchronously")
    out = net.hosts[0].cli("config-check", check=True).stdout
    assert "warning: no connected standby is synchronous: 1 standby(s) stream" in out, out
    assert "survive a failover" not in out, out


@pytest.mark.replication("sync")
def test_sync_with_the_standby_cut_off_grants_nothing_it_could_lose(net, database):
    """The same lagging standby under synchronous replication: a COMMIT waits for the standby,
    so the answer fails closed within store_timeout (nothing granted, nothing counted as
    refused); after the failover the code is accepted exactly once."""
    code = answers_to_a_lagging_standby(
        net, database, "sright", "swrong",
        "database replication: synchronous (synchronous_standby_names = 'standby1', synchronous_commit = on)")
    assert "warning: no standby is connected" in net.hosts[0].cli("config-check", check=True).stdout
    r = host(net, 0).login("sright", PIN + code)
    assert r.rc == UNAVAILABLE and r.seconds < HANG_CAP, r
    r = host(net, 1).login("swrong", "wrong-PIN")
    assert r.rc == UNAVAILABLE and r.seconds < HANG_CAP, r
    database.fail_over()
    assert host(net, 1).login("sright", PIN + code).rc == SUCCESS
    assert host(net, 2).login("sright", PIN + code).rc == REFUSED
    assert database.fail_count("swrong", database.standby) == 0


@pytest.mark.replication("sync")
def test_sync_a_commit_stuck_for_the_standby_is_cancelled_and_its_charge_taken_back(net, database):
    """With the standby cut off, an answer's charge waits in its COMMIT for the standby. At the
    login's deadline the module cancels that COMMIT on the server and takes the charge back
    (docs/fleet.md, replication): the login fails closed, no backend of the module is left
    waiting for the standby, the user's row is free, and once the standby is back the right
    answer was not counted as a failure and the code still works, once."""
    code = answers_to_a_lagging_standby(
        net, database, "cright", "cwrong",
        "database replication: synchronous (synchronous_standby_names = 'standby1', synchronous_commit = on)")
    counted = database.fail_count("cright")
    r = host(net, 0).login("cright", PIN + code)
    assert r.rc == UNAVAILABLE and r.seconds < HANG_CAP, r
    print("login with the standby cut off: rc %d after %.2f s" % (r.rc, r.seconds))
    # the standby is still gone: nothing of that login waits for it, nothing holds the row (a
    # transaction that waits for no standby locks it at once)
    waiting = database.primary.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pam_emailotp' "
                                   "AND wait_event = 'SyncRep'", database="postgres")
    assert waiting == ["0"], waiting
    database.primary.sql("BEGIN; SET LOCAL synchronous_commit = local; "
                         "SELECT 1 FROM emailotp_tokens WHERE user_name = 'cright' FOR UPDATE NOWAIT; ROLLBACK")
    assert database.fail_count("cright") == counted
    database.restore_replication()
    database.caught_up()
    # the charge and its refund both reached the standby: the right answer counted nothing
    assert database.fail_count("cright", database.standby) == counted
    assert database.fail_count("cright") == counted
    assert host(net, 1).login("cright", PIN + code).rc == SUCCESS
    assert host(net, 2).login("cright", PIN + code).rc == REFUSED



@pytest.mark.replication("sync")
def test_sync_a_commit_wait_cancelled_by_the_dba_fails_closed_and_takes_its_charge_back(net, database):
    """pg_cancel_backend on a module's backend waiting for the standby ends its COMMIT with
    success and a warning although the standby lacks the transaction: the module counts that
    COMMIT as failed, fails the login closed and takes the charge back (docs/fleet.md advises
    pg_cancel_backend)."""
    code = answers_to_a_lagging_standby(
        net, database, "kright", "kwrong",
        "database replication: synchronous (synchronous_standby_names = 'standby1', synchronous_commit = on)")
    database.configure_hosts(store_timeout=30)
    counted = database.fail_count("kright")
    waiting = ("SELECT pid FROM pg_stat_activity WHERE application_name = 'pam_emailotp' "
               "AND wait_event = 'SyncRep'")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        login = pool.submit(host(net, 0).login, "kright", PIN + code)
        wait_for(lambda: database.primary.sql(waiting, database="postgres"), "the charge's COMMIT waits for the standby")
        database.primary.sql("SELECT pg_cancel_backend(pid) FROM (%s) w" % waiting, database="postgres")
        r = login.result()
    assert r.rc == UNAVAILABLE, r
    assert database.primary.sql(waiting, database="postgres") == []
    assert database.fail_count("kright") == counted
    database.restore_replication()
    database.caught_up()
    assert database.fail_count("kright", database.standby) == counted
    assert host(net, 1).login("kright", PIN + code).rc == SUCCESS
    assert host(net, 2).login("kright", PIN + code).rc == REFUSED


# -- PgBouncer

@pytest.fixture
def bouncer(net, database, workdir):
    b = PgBouncer(net, workdir / "pgbouncer", database.primary, net.db_address(2), pool_size=2).start()
    database.configure_hosts(uri=b.uri())
    yield b
    b.stop()


def test_pgbouncer_transaction_pooling_keeps_row_locks_counts_and_single_use(net, database, bouncer):
    users = ["pb%d" % i for i in range(4)]
    for user in users + ["pbcount"]:
        net.hosts[0].enroll(user, PIN)
    # SCRAM through the pooler, a challenge opened on one host and answered on another
    codes = open_challenges(net, users)
    # each code sent on two hosts at once, through a pool of two server connections
    jobs = [(host(net, i + k), u) for i, u in enumerate(users) for k in (1, 2)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        rcs = list(pool.map(lambda j: j[0].login(j[1], PIN + codes[j[1]]).rc, jobs))
    for i in range(0, len(rcs), 2):
        assert sorted(rcs[i:i + 2]) == [SUCCESS, REFUSED], (jobs[i][1], rcs[i:i + 2])
    # 24 concurrent wrong PINs for one user, every one counted: the row lock holds
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        rcs = list(pool.map(lambda i: host(net, i).login("pbcount", "wrong-PIN-%d" % i).rc, range(24)))
    assert rcs == [REFUSED] * 24, rcs
    assert database.fail_count("pbcount") == 24


def test_pgbouncer_lock_timeout_bounds_a_held_row_and_leaves_no_session_setting(net, database, bouncer):
    net.hosts[0].enroll("pblock", PIN)
    holder = database.primary.session()
    try:
        holder.run("BEGIN;")
        holder.run("SELECT 1 FROM emailotp_tokens WHERE user_name = 'pblock' FOR UPDATE;")
        r = host(net, 1).login("pblock", PIN)
        assert r.rc == UNAVAILABLE and r.seconds < HANG_CAP, r
        holder.run("ROLLBACK;")
    finally:
        holder.close()
    assert host(net, 1).login("pblock", PIN).rc == REFUSED
    # the module's settings were transaction-scoped: a client that gets the same server
    # connections afterwards sees the defaults
    env = dict(os.environ, PGPASSWORD=MODULE_PASSWORD)
    for _ in range(4):
        p = net.hosts[0].ns([database.primary.bin + "/psql", "-X", "-At", bouncer.uri(), "-c",
                             "SHOW lock_timeout", "-c", "SHOW statement_timeout", "-c",
                             "SHOW idle_in_transaction_session_timeout"], env=env)
        assert p.stdout.split() == ["0", "0", "0"], p.stdout


# -- faults

def test_a_host_whose_clock_is_hours_off_logs_in_by_the_database_clock(net, database):
    net.hosts[0].enroll("clock", PIN)
    r = host(net, 0).login("clock", PIN, faketime="+5h")
    assert r.rc == REFUSED, r
    code = host(net, 0).code_for("clock")
    assert host(net, 1).login("clock", PIN + code).rc == SUCCESS
    assert host(net, 2).login("clock", PIN).rc == REFUSED
    code = host(net, 2).code_for("clock")
    assert host(net, 0).login("clock", PIN + code, faketime="-5h").rc == SUCCESS
    assert host(net, 0).login("clock", PIN + code, faketime="+5h").rc == REFUSED


def test_a_link_that_drops_packets_fails_closed_or_succeeds_and_loses_no_count(net, database):
    lossy = host(net, 1)
    users = ["loss%d" % i for i in range(3)]
    for user in users + ["losswrong"]:
        net.hosts[0].enroll(user, PIN)
    codes = open_challenges(net, users)
    lossy.drop(25)
    try:
        results = [(u, lossy.login(u, PIN + codes[u])) for u in users]
        wrongs = [lossy.login("losswrong", "wrong-PIN-%d" % i) for i in range(4)]
    finally:
        lossy.drop(0)
    for user, r in results:
        assert r.rc in (SUCCESS, UNAVAILABLE) and r.seconds < HANG_CAP, (user, r)
        again = host(net, 2).login(user, PIN + codes[user]).rc
        # never granted twice; an answer cut off (UNAVAILABLE) may have used its code up, when
        # its COMMIT reached the server but the reply did not come within the login's
        # store_timeout (docs/fleet.md): then the user asks for a new code
        assert [r.rc, again].count(SUCCESS) <= 1 and again in (SUCCESS, REFUSED), (user, r, again)
        if r.rc == SUCCESS:
            assert again == REFUSED, (user, r, again)
    for r in wrongs:
        assert r.rc in (REFUSED, UNAVAILABLE) and r.seconds < HANG_CAP, r
    acknowledged = sum(1 for r in wrongs if r.rc == REFUSED)
    unknown = sum(1 for r in wrongs if r.rc == UNAVAILABLE)
    assert acknowledged <= database.fail_count("losswrong") <= acknowledged + unknown


def test_a_database_that_answers_slowly_fails_closed_within_store_timeout(net, database):
    net.hosts[0].enroll("slow", PIN)
    code = open_challenges(net, ["slow"])["slow"]
    target = (net.db_address(0), database.port)
    slow = DelayProxy(net, (net.db_address(3), 0), target, delay=2 * STORE_TIMEOUT)
    slowish = DelayProxy(net, (net.db_address(3), 0), target, delay=0.05)
    try:
        uri = "postgresql://emailotp_module@%s:%d/emailotp?sslmode=disable"
        host(net, 1).configure(store=uri % slow.address)
        r = host(net, 1).login("slow", PIN + code)
        assert r.rc == UNAVAILABLE and r.seconds < HANG_CAP, r
        host(net, 1).configure(store=uri % slowish.address)
        r = host(net, 1).login("slow", PIN + wrong(code))
        assert r.rc == REFUSED, r
    finally:
        slow.close()
        slowish.close()
        database.configure_hosts()
    assert database.fail_count("slow") == 1
    assert host(net, 2).login("slow", PIN + code).rc == SUCCESS
    assert host(net, 3).login("slow", PIN + code).rc == REFUSED
