"""A simulated fleet on this machine: hosts in network namespaces on one bridge, each with its
own address, configuration, PAM service and Maildir, logging in through real libpam.

    with Fleet(tmp_path, hosts=4) as fleet:       # a hub namespace with a bridge, 4 host namespaces
        fleet.db_address(0), fleet.db_address(1)  # the hub's addresses, for the databases
        host = fleet.hosts[0]
        host.configure(store=uri, store_password_file=...)
        res = host.login("alice", "PIN")           # bench/pamrun inside the namespace

Every namespace is one this creates: the hub (the bridge and the databases' addresses; PGCluster(
netns=fleet.hub) runs its server there) and one per host, joined to the bridge by a veth pair. A
host reaches the databases over its veth, never over loopback, and nothing is added to the
namespace the caller runs in. Names carry a tag made of the process id, so that two runs never
share one; close() removes them. The addresses are 10.R.0.0/24 with R from the tag: private, on
this machine only (the bridge has no uplink). Faults: `host.drop(30)` loses 30 % of a host's
packets (nftables; this machine's kernel has no netem), DelayProxy is a database that answers
slowly (lib/relay.py), and `faketime=` fakes one login's clock.
"""

import os
import pathlib
import subprocess
import sys
import time

from .env import TestSite, module_path
from lib.procs import stop_process  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
PAMRUN_SOURCE = REPO / "bench" / "pamrun.c"
FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def run(argv, check=True, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=kw.pop("timeout", 60), **kw)
    if check and p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (" ".join(argv), p.returncode, p.stdout, p.stderr))
    return p


def build_pamrun(directory):
    """bench/pamrun, compiled once into `directory` (gcc and libpam0g-dev are test packages)."""
    out = pathlib.Path(directory) / "pamrun"
    if not out.exists():
        run(["gcc", "-O2", "-o", str(out), str(PAMRUN_SOURCE), "-lpam"], timeout=120)
    return str(out)


class LoginResult:
    def __init__(self, rc, output, seconds):
        self.rc, self.output, self.seconds = rc, output, seconds

    def __repr__(self):
        return "LoginResult(rc=%r, %.3fs, %r)" % (self.rc, self.seconds, self.output[-300:])


class Host:
    """One host: a network namespace with one veth on the fleet's bridge, a configuration
    (its own emailotp.conf, named by config= in its own PAM service file) and a Maildir."""

    def __init__(self, fleet, index):
        self.fleet = fleet
        self.index = index
        self.name = "%sh%d" % (fleet.tag, index)
        self.link = "%sv%d" % (fleet.tag, index)       # the bridge's end
        self.peer = "%sp%d" % (fleet.tag, index)       # the host's end, inside the namespace
        self.address = fleet.address(10 + index)
        self.site = TestSite(fleet.dir, name="host%d" % index)
        self.maildir = self.site.dir / "Maildir"
        for sub in ("new", "cur", "tmp"):
            (self.maildir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.maildir, 0o700)
        self.pamdir = self.site.dir / "pam.d"
        self.pamdir.mkdir(exist_ok=True)
        self.service = "emailotp-fleet"
        self.args = "mode=challenge"

    def create(self):
        fleet = self.fleet
        run(["ip", "netns", "add", self.name])
        run(["ip", "-n", fleet.hub, "link", "add", self.link, "type", "veth", "peer", "name", self.peer,
             "netns", self.name])
        run(["ip", "-n", fleet.hub, "link", "set", self.link, "master", fleet.bridge, "up"])
        self.ns(["ip", "link", "set", "lo", "up"])
        self.ns(["ip", "addr", "add", "%s/24" % self.address, "dev", self.peer])
        self.ns(["ip", "link", "set", self.peer, "up"])

    def remove(self):
        run(["ip", "netns", "del", self.name], check=False)     # its veth pair goes with it

    def ns(self, argv, **kw):
        return run(["ip", "netns", "exec", self.name] + list(argv), **kw)

    def configure(self, args=None, **keys):
        """Writes emailotp.conf (mail into the host's Maildir) and the PAM service."""
        if args is not None:
            self.args = args
        keys.setdefault("mail_transport", "maildir:%s" % self.maildir)
        self.site.write_config(**keys)
        lines = ["auth required %s config=%s %s" % (module_path(), self.site.config, self.args),
                 "account required pam_permit.so"]
        (self.pamdir / self.service).write_text("\n".join(lines) + "\n")
        (self.pamdir / "other").write_text("auth required pam_deny.so\naccount required pam_deny.so\n")

    def drop(self, percent):
        """Drops `percent` % of the host's packets, both directions, at random (nftables in the
        namespace: `numgen random`; this kernel has no netem); 0 removes the rule."""
        self.ns(["nft", "delete", "table", "inet", "eotploss"], check=False)
        if percent:
            rules = ("table inet eotploss {\n"
                     " chain in { type filter hook input priority 0; iifname \"%s\" numgen random mod 100 < %d drop; }\n"
                     " chain out { type filter hook output priority 0; oifname \"%s\" numgen random mod 100 < %d drop; }\n"
                     "}\n" % (self.peer, percent, self.peer, percent))
            self.ns(["nft", "-f", "-"], input=rules)

    def login(self, user, *answers, faketime=None, timeout=120):
        """One PAM transaction (pam_start_confdir + pam_authenticate) in a fresh process in
        the namespace, as sshd runs one: (rc, output, seconds)."""
        argv = ["ip", "netns", "exec", self.name]
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        if faketime:
            env.update(LD_PRELOAD=FAKETIME, FAKETIME=faketime, DONT_FAKE_MONOTONIC="1")
        argv += ["env", "-i"] + ["%s=%s" % kv for kv in env.items()]
        argv += [self.fleet.pamrun, str(self.pamdir), self.service, user] + list(answers)
        start = time.monotonic()
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        return LoginResult(p.returncode, p.stdout + p.stderr, time.monotonic() - start)

    def newest_code(self):
        """The code in the newest mail of the host's Maildir."""
        import email
        import email.policy
        from .mail import extract_code
        files = sorted((self.maildir / "new").iterdir(), key=lambda p: p.stat().st_mtime_ns)
        message = email.message_from_bytes(files[-1].read_bytes(), policy=email.policy.default)
        return extract_code(message)

    def code_for(self, user):
        """The code in the newest mail to `user` in the host's Maildir."""
        import email
        import email.policy
        from .mail import extract_code
        newest = None
        for path in (self.maildir / "new").iterdir():
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if user + "@" in str(message["To"]):
                stamp = path.stat().st_mtime_ns
                if newest is None or stamp > newest[0]:
                    newest = (stamp, message)
        assert newest, "no mail to %s in %s" % (user, self.maildir)
        return extract_code(newest[1])

    def mails(self):
        return len(list((self.maildir / "new").iterdir()))

    def cli(self, verb, *args, input=None, check=False, timeout=60):
        """`emailotp VERB --config C ARGS...` in the host's namespace: the store the
        configuration names, never a --store override."""
        from .env import EMAILOTP
        argv = ["ip", "netns", "exec", self.name, EMAILOTP, verb, "--config", str(self.site.config)] + \
            [str(a) for a in args]
        p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("emailotp %s failed (%d): %s%s" % (verb, p.returncode, p.stdout, p.stderr))
        return p

    def enroll(self, user, pin, email=None):
        return self.cli("enroll", user, "--email", email or user + "@example.com", "--pin-stdin",
                        input=pin + "\n", check=True)


class Fleet:
    def __init__(self, directory, hosts=4):
        self.dir = pathlib.Path(directory)
        pid = os.getpid()
        self.tag = "eo%x" % (pid % 0xFFFF)                # ≤ 6 characters: names stay ≤ 15
        self.subnet = 16 + pid % 200                       # 10.R.0.0/24
        self.hub = self.tag + "db"                         # the databases' namespace
        self.bridge = self.tag + "br"
        self.pamrun = build_pamrun(self.dir)
        self.hosts = [Host(self, i) for i in range(hosts)]

    def address(self, last):
        return "10.%d.0.%d" % (self.subnet, last)

    def db_address(self, i):
        """The i-th address of the hub (0: primary, 1: standby, 2: pooler, 3: slow relay)."""
        return self.address(1 + i)

    @property
    def cidr(self):
        return "10.%d.0.0/24" % self.subnet

    @property
    def in_hub(self):
        """The prefix that runs a command in the databases' namespace."""
        return ["ip", "netns", "exec", self.hub]

    def __enter__(self):
        self.close()
        run(["ip", "netns", "add", self.hub])
        run(self.in_hub + ["ip", "link", "set", "lo", "up"])
        run(self.in_hub + ["ip", "link", "add", self.bridge, "type", "bridge"])
        for i in range(4):
            run(self.in_hub + ["ip", "addr", "add", "%s/24" % self.db_address(i), "dev", self.bridge])
        run(self.in_hub + ["ip", "link", "set", self.bridge, "up"])
        for host in self.hosts:
            host.create()
        return self

    def close(self):
        for host in self.hosts:
            host.remove()
        run(["ip", "netns", "del", self.hub], check=False)      # the bridge goes with it

    def __exit__(self, *exc):
        self.close()

    def store_init(self, cluster, directory):
        """store-init as the owner from host 0 and the GRANTs it prints, as the superuser; the
        PGSite whose config and password file the hosts use."""
        from .pgcluster import PGSite
        site = PGSite(directory, cluster, name="init")
        site.store_init(prefix=["ip", "netns", "exec", self.hosts[0].name])
        return site


class DelayProxy:
    """A database that answers slowly: a TCP relay in the hub that forwards every chunk, each
    way, `delay` seconds after it arrived (this kernel has no netem). A process of its own
    (lib/relay.py), so that it listens in the hub; close() ends it."""

    def __init__(self, fleet, listen, target, delay):
        self.process = subprocess.Popen(fleet.in_hub + [sys.executable, str(HERE / "relay.py"), listen[0], str(listen[1]),
                                                        target[0], str(target[1]), str(delay)],
                                        stdout=subprocess.PIPE, text=True)
        port = int(self.process.stdout.readline())
        self.address = (listen[0], port)

    def close(self):
        self.process.terminate()
        self.process.wait(timeout=10)


class PgBouncer:
    """PgBouncer in transaction pooling mode on `listen`:`port` in front of `cluster`, asking
    clients for SCRAM (auth_type scram-sha-256) with the module role's secret copied from
    pg_authid into auth_file, which also lets it log in to the server with SCRAM."""

    def __init__(self, fleet, directory, cluster, listen, port=6432, pool_size=2, role="emailotp_module"):
        self.fleet = fleet
        import pwd
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        pw = pwd.getpwnam("postgres")
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.listen, self.port = listen, port
        secret = cluster.sql("SELECT rolpassword FROM pg_authid WHERE rolname = '%s'" % role, database="postgres")[0]
        files = {
            "userlist.txt": '"%s" "%s"\n' % (role, secret),
            "pgbouncer.ini": (
                "[databases]\n"
                "emailotp = host=%s port=%d dbname=emailotp\n"
                "[pgbouncer]\n"
                "listen_addr = %s\nlisten_port = %d\nunix_socket_dir = %s\n"
                "auth_type = scram-sha-256\nauth_file = %s/userlist.txt\n"
                "pool_mode = transaction\ndefault_pool_size = %d\nmax_client_conn = 1000\n"
                "server_reset_query =\nserver_check_delay = 0\n"
                "logfile = %s/pgbouncer.log\npidfile = %s/pgbouncer.pid\n"
                % (cluster.listen, cluster.port, listen, port, self.dir, self.dir, pool_size,
                   self.dir, self.dir)),
        }
        for name, text in files.items():
            path = self.dir / name
            path.write_text(text)
            os.chown(path, pw.pw_uid, pw.pw_gid)
            os.chmod(path, 0o600)
        self.process = None

    def start(self):
        from .pgcluster import AS_POSTGRES
        self.process = subprocess.Popen(self.fleet.in_hub + AS_POSTGRES + ["/usr/sbin/pgbouncer", str(self.dir / "pgbouncer.ini")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd="/")
        # it listens once its Unix socket exists (made beside the TCP listener)
        socket_path = self.dir / (".s.PGSQL.%d" % self.port)
        deadline = time.monotonic() + 30
        while not socket_path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.dir / "pgbouncer.log"
                raise RuntimeError("pgbouncer did not start: %s" % (log.read_text() if log.exists() else ""))
            time.sleep(0.05)
        return self

    def uri(self, user="emailotp_module"):
        return "postgresql://%s@%s:%d/emailotp?sslmode=disable" % (user, self.listen, self.port)

    def stop(self):
        if self.process and self.process.poll() is None:
            stop_process(self.process, 10)

