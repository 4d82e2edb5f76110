"""A private PostgreSQL cluster for the fleet-store tests, and test sites that use it.

    with PGCluster(tmp_path / "pg") as pg:          # initdb + pg_ctl as postgres, loopback port
        pg.create_fleet()                           # database emailotp, owner + module roles
        site = PGSite(tmp_path, pg, smtp=smtp, name="hostA")   # config: store = postgresql://...
        site.cli_ok("store-init", ...)

The cluster lives in a temporary directory, listens on 127.0.0.1 on a free port,
asks passwords (scram-sha-256) of the module's role over TCP and trusts the
superuser only on its private Unix socket.  stop() / start() serve the fault
tests; close() removes nothing but stops the server (the directory goes with
tmp_path).
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time

from .env import TestSite, parse_record

OWNER, OWNER_PASSWORD = "emailotp_owner", "owner-pw-9Jq"
MODULE_ROLE, MODULE_PASSWORD = "emailotp_module", "module-pw-X3v"
DATABASE = "emailotp"
# setpriv, not runuser or su: those open a PAM session, which this machine's stacks may hold up.
AS_POSTGRES = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


def pg_bindir():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (IntegrationTests/packages.txt lists postgresql)")
    return os.path.dirname(found[-1])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PGCluster:
    """`listen`: the address to listen on (127.0.0.1, or a fleet's bridge address: lib/fleet.py);
    `clients`: a CIDR whose hosts may log in with a password as well; `standby_of`: make this
    cluster a hot standby of that one (pg_basebackup) instead of running initdb; `netns`: the
    network namespace the server runs in (a fleet's hub). The superuser's psql always goes
    through the cluster's private Unix socket, which every namespace reaches."""

    def __init__(self, directory, port=None, listen="127.0.0.1", clients=None, standby_of=None,
                 name=None, netns=None):
        self.dir = str(directory)
        self.netns = netns
        self.listen = listen
        self.name = name
        self.bin = pg_bindir()
        self.data = os.path.join(self.dir, "data")
        self.sockets = os.path.join(self.dir, "sock")
        self.log = os.path.join(self.sockets, "server.log")
        self.port = port or free_port()
        pw = pwd.getpwnam("postgres")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        for d in (self.sockets, self.data):
            os.makedirs(d, mode=0o700, exist_ok=True)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        if standby_of is None:
            self._as_postgres([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres",
                               "-E", "UTF8", "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256"],
                              cwd="/")
            if clients:
                with open(os.path.join(self.data, "pg_hba.conf"), "a") as f:
                    f.write("host all all %s scram-sha-256\n" % clients)
        else:
            # The base backup streams over the primary's private socket (local replication is
            # trusted there); -R writes standby.signal and primary_conninfo.
            self._as_postgres([os.path.join(self.bin, "pg_basebackup"), "-h", standby_of.sockets,
                               "-p", str(standby_of.port), "-U", "postgres", "-D", self.data,
                               "-X", "stream", "-c", "fast"], cwd="/")
            with open(os.path.join(self.data, "standby.signal"), "w"):
                pass
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = '%s'\nport = %d\nunix_socket_directories = '%s'\n"
                    "max_connections = 250\nfsync = off\nlog_min_messages = warning\n"
                    % (self.listen, self.port, self.sockets))
            if name:
                f.write("cluster_name = '%s'\n" % name)
            if standby_of is not None:
                f.write("primary_conninfo = 'host=%s port=%d user=postgres application_name=%s'\n"
                        "hot_standby = on\n" % (standby_of.sockets, standby_of.port, name or "standby"))
        self.running = False

    def _as_postgres(self, argv, **kw):
        kw.setdefault("cwd", "/")
        if argv[0] == "ip":                 # ip netns exec NS: it runs the command as postgres
            argv = argv[:4] + AS_POSTGRES + argv[4:]
        else:
            argv = AS_POSTGRES + argv
        p = subprocess.run(argv, capture_output=True,
                           text=True, timeout=kw.pop("timeout", 120), **kw)
        if p.returncode != 0:
            raise RuntimeError("%s failed: %s%s" % (argv[0], p.stdout, p.stderr))
        return p.stdout

    def start(self):
        self._as_postgres((["ip", "netns", "exec", self.netns] if self.netns else []) + [os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l", self.log,
                           "-w", "-t", "60", "start"])
        self.running = True

    def stop(self, mode="fast"):
        if self.running:
            self._as_postgres([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", mode,
                               "-w", "-t", "60", "stop"])
            self.running = False

    def promote(self):
        """pg_ctl promote, waiting until the server accepts writes."""
        self._as_postgres([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-w", "-t", "60", "promote"])

    def configure(self, **settings):
        """ALTER SYSTEM for each setting, then a reload."""
        for key, value in settings.items():
            self.sql("ALTER SYSTEM SET %s = '%s'" % (key, str(value).replace("'", "''")), database="postgres")
        self.sql("SELECT pg_reload_conf()", database="postgres")

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop("immediate")

    def uri(self, user=MODULE_ROLE, database=DATABASE, extra="sslmode=disable"):
        return "postgresql://%s@%s:%d/%s%s" % (user, self.listen, self.port, database,
                                               ("?" + extra) if extra else "")

    def psql_argv(self, database=DATABASE):
        return AS_POSTGRES + [os.path.join(self.bin, "psql"), "-X", "-q",
                "-h", self.sockets, "-p", str(self.port), "-d", database, "-At",
                "-v", "ON_ERROR_STOP=1"]

    def sql(self, statement, database=DATABASE):
        """Runs SQL as the superuser; the output lines (unaligned, tuples only)."""
        p = subprocess.run(self.psql_argv(database) + ["-c", statement], capture_output=True,
                           text=True, timeout=60, cwd="/")
        if p.returncode != 0:
            raise RuntimeError("psql failed: %s" % p.stderr)
        return p.stdout.splitlines()

    def session(self, database=DATABASE):
        """A second, interactive session (psql reading its standard input)."""
        return Session(self.psql_argv(database))

    def create_fleet(self):
        """The database, an owner role (runs store-init) and the module's role."""
        self.sql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (OWNER, OWNER_PASSWORD), database="postgres")
        self.sql("CREATE ROLE %s LOGIN PASSWORD '%s'" % (MODULE_ROLE, MODULE_PASSWORD), database="postgres")
        self.sql("CREATE DATABASE %s OWNER %s ENCODING 'UTF8' TEMPLATE template0" % (DATABASE, OWNER),
                 database="postgres")
        self.sql("REVOKE ALL ON DATABASE %s FROM PUBLIC" % DATABASE, database="postgres")
        # PostgreSQL 15 already keeps PUBLIC out of schema public; this says it for older ones.
        self.sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        self.sql("ALTER SCHEMA public OWNER TO %s" % OWNER)

    # -- the store's rows
    def record_text(self, user):
        rows = self.sql("SELECT record FROM emailotp_tokens WHERE user_name = '%s'" % user.replace("'", "''"))
        if not rows:
            return None
        text = "\n".join(rows)      # psql ends the value's own final newline with one more
        return text if text.endswith("\n") else text + "\n"

    def set_record_text(self, user, text):
        self.sql("UPDATE emailotp_tokens SET record = $rec$%s$rec$ WHERE user_name = '%s'"
                 % (text, user.replace("'", "''")))

    def db_now(self):
        return int(self.sql("SELECT floor(extract(epoch FROM clock_timestamp()))::bigint")[0])


class Session:
    """psql fed line by line; `run` waits for the statement's marker line."""

    def __init__(self, argv):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, cwd="/")
        self.n = 0

    def run(self, statement):
        self.n += 1
        marker = "--done-%d--" % self.n
        self.p.stdin.write("%s\n\\echo %s\n" % (statement, marker))
        self.p.stdin.flush()
        out = []
        for line in self.p.stdout:
            line = line.rstrip("\n")
            if line == marker:
                return out
            out.append(line)
        raise RuntimeError("psql ended: %r" % out)

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.close()
            except OSError:
                pass
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


class PGSite(TestSite):
    """A host whose config names the shared database (store = postgresql://...)."""

    def __init__(self, tmpdir, pg, *, smtp=None, keys=None, name="site", uri=None,
                 password=MODULE_PASSWORD):
        self.pg = pg
        base = {"store": uri or pg.uri(), "store_timeout": 5}
        base.update(keys or {})
        super().__init__(tmpdir, smtp=smtp, keys=base, name=name)
        shutil.rmtree(self.store, ignore_errors=True)
        self.password_file = self.dir / "store.password"
        self.write_file(self.password_file, password + "\n", 0o600)
        self.write_config(store_password_file=str(self.password_file), **base)

    def cli_argv(self, *args):
        args = [str(a) for a in args]
        from .env import EMAILOTP
        if not args:
            return [EMAILOTP, "--config", str(self.config)]
        return [EMAILOTP, args[0], "--config", str(self.config)] + args[1:]

    def store_init(self, prefix=()):
        """store-init as the owner, then the GRANTs it prints, as the superuser. `prefix`: what
        runs the command elsewhere (`ip netns exec NS`)."""
        owner_pw = self.dir / "owner.password"
        self.write_file(owner_pw, OWNER_PASSWORD + "\n", 0o600)
        owner_uri = self.pg.uri(user=OWNER)
        p = subprocess.run(list(prefix) + [self.cli_argv()[0], "store-init", "--config", str(self.config),
                            "--store", owner_uri, "--password-file", str(owner_pw),
                            "--role", MODULE_ROLE], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        grants = [l for l in p.stdout.splitlines() if l.startswith("GRANT")]
        for g in grants:
            self.pg.sql(g)
        return p, grants

    def read_record(self, user):
        text = self.pg.record_text(user)
        return parse_record(text) if text else None

    def expire_challenges(self, user, txid=None, ago=600):
        text = self.pg.record_text(user)
        now = self.pg.db_now()
        out, changed = [], 0
        for line in text.splitlines():
            parts = line.split(" ")
            if parts[0] == "challenge" and (txid is None or parts[1] == txid):
                validity = max(int(parts[4]) - int(parts[3]), 30)
                parts[4] = str(now - ago)
                parts[3] = str(now - ago - validity)
                line = " ".join(parts)
                changed += 1
            out.append(line)
        assert changed
        self.pg.set_record_text(user, "\n".join(out) + "\n")
        return changed


def authenticate_with_env(site, user, password, env, args="mode=challenge", timeout=60, log_socket=None):
    """One PAM transaction (every prompt answered with `password`) in a fresh Python process
    whose environment is extended by `env`: LD_PRELOAD (a faked clock) only takes effect at
    exec, and the module must be seen reading a hostile environment.  Returns (rc, messages)."""
    import json
    import sys
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = (
        "import json, sys\n"
        "sys.path.insert(0, %r)\n"
        "from lib.pamdriver import authenticate\n"
        "stack = sys.stdin.read()\n"
        "res = authenticate(%r, stack, lambda style, text: %r, fork=False)\n"
        "print(json.dumps([res.rc, [m.text for m in res.transcript]]))\n"
    ) % (here, user, password)
    full = dict(os.environ)
    full.update(env)
    argv = [sys.executable, "-c", script]
    if log_socket is not None:
        # The module's syslog lines go to the test's socket: /dev/log is bound over in a
        # private mount namespace, so the machine's own /dev/log is left alone.
        argv = ["unshare", "-m", "sh", "-c", 'mount --make-rprivate / && mount --bind "$0" /dev/log && exec "$@"',
                str(log_socket)] + argv
    p = subprocess.run(argv, input=site.stack(args), capture_output=True,
                       text=True, env=full, timeout=timeout, cwd="/")
    if p.returncode != 0:
        raise AssertionError("PAM helper failed: %s" % p.stderr)
    rc, texts = json.loads(p.stdout.strip().splitlines()[-1])
    return rc, texts
