"""What the hostile caller hands its setuid program, and what must hold afterwards."""

import json
import os
import pathlib
import re
import shutil
import socket
import subprocess

import pexpect

import svc
from lib.flows import ANY_OTP_PROMPT  # sudo passes PAM_SILENT: the prompt says where the code went
from lib.mail import extract_code

WRAPPER = pathlib.Path(__file__).resolve().parent / "hostile_exec.py"
PIN = svc.PIN
SENT = r"A code was sent to (\S+)\. It is valid for \d+ minutes?\."

PROXY_VARIABLES = ["ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                   "SMTP_PROXY", "smtp_proxy", "SMTPS_PROXY", "smtps_proxy", "FTP_PROXY", "ftp_proxy",
                   "SOCKS_PROXY", "socks_proxy"]


class Caller:
    """The caller's own files and the traps its environment points at."""

    def __init__(self, tmp_path, user):
        self.dir = pathlib.Path(tmp_path) / ("caller-" + user.name)
        self.dir.mkdir(mode=0o755)
        self.user = user
        self.home = self.dir / "home"
        self.home.mkdir(mode=0o755)
        self.trap = socket.socket()
        self.trap.bind(("127.0.0.1", 0))
        self.trap.listen(16)
        self.trap.setblocking(False)
        url = "http://127.0.0.1:%d" % self.trap.getsockname()[1]
        (self.home / ".curlrc").write_text("proxy = %s\nverbose\ntrace-ascii %s/curl-trace\n" % (url, self.home))
        (self.home / ".netrc").write_text("default login stolen password stolen\n")
        bogus = self.dir / "bogus-ca.pem"
        bogus.write_text("not a certificate\n")
        (self.dir / "certs").mkdir()
        (self.dir / "openssl.cnf").write_text("openssl_conf = evil\n[evil]\nengines = e\n[e]\nx = y\n")
        (self.dir / "hostaliases").write_text("localhost evil.example\n")
        # A directory only root can write in: whatever appears there was made by root for the caller.
        self.rootonly = self.dir / "rootonly"
        self.rootonly.mkdir(mode=0o755)
        self.keylog = self.rootonly / "keylog"
        for path in [self.dir, self.home] + list(self.dir.iterdir()) + list(self.home.iterdir()):
            if path != self.rootonly:
                os.chown(path, user.uid, user.gid)
        env = {"PATH": "/usr/bin:/bin", "HOME": str(self.home), "USER": user.name, "LOGNAME": user.name,
               "TERM": "dumb", "SSLKEYLOGFILE": str(self.keylog), "SSL_CERT_FILE": str(bogus),
               "SSL_CERT_DIR": str(self.dir / "certs"), "CURL_CA_BUNDLE": str(bogus),
               "OPENSSL_CONF": str(self.dir / "openssl.cnf"), "OPENSSL_MODULES": str(self.dir),
               "OPENSSL_ENGINES": str(self.dir), "OPENSSL_ia32cap": "~0x200000200000000:~0x0",
               "CURL_HOME": str(self.home), "NO_PROXY": "", "no_proxy": "",
               "PGHOST": "127.0.0.9", "PGPORT": "1", "PGUSER": "evil", "PGPASSWORD": "evil",
               "PGSSLMODE": "disable", "PGSERVICEFILE": str(self.dir / "pg_service.conf"),
               "PGSYSCONFDIR": str(self.dir), "PGPASSFILE": str(self.dir / "pgpass"), "PGOPTIONS": "-c x=y",
               "TZ": "Pacific/Kiritimati", "LANG": "tr_TR.UTF-8", "LC_ALL": "tr_TR.UTF-8",
               "LC_CTYPE": "tr_TR.UTF-8", "LC_MESSAGES": "tr_TR.UTF-8", "LC_TIME": "tr_TR.UTF-8",
               "SWIFT_DEBUG_HELP": "YES", "SWIFT_DETERMINISTIC_HASHING": "1", "SWIFT_BACKTRACE": "enable=yes",
               "SWIFT_DEBUG_ENABLE_MALLOC_SCRIBBLE": "YES",
               "MALLOC_CHECK_": "3", "MALLOC_PERTURB_": "165", "MALLOC_ARENA_MAX": "1",
               "GLIBC_TUNABLES": "glibc.malloc.check=3", "GCONV_PATH": str(self.dir),
               "LOCALDOMAIN": "evil.example", "RES_OPTIONS": "ndots:15 attempts:5 timeout:30",
               "HOSTALIASES": str(self.dir / "hostaliases")}
        env.update({name: url for name in PROXY_VARIABLES})
        self.environment = env
        self.files = self.listing()

    def listing(self):
        out = {}
        for root, dirs, files in os.walk(self.dir):
            for name in files + dirs:
                path = os.path.join(root, name)
                st = os.lstat(path)
                out[path] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns)
        return out

    def spec(self, tmp, **kw):
        """A spec file for hostile_exec.py: env (the hostile one unless given), limits, ignore, block, close."""
        spec = {"env": kw.pop("env", self.environment)}
        spec.update(kw)
        path = self.dir / ("spec-%d.json" % len(list(self.dir.glob("spec-*.json"))))
        path.write_text(json.dumps(spec))
        os.chown(path, self.user.uid, self.user.gid)
        self.files = self.listing()
        return path

    def command(self, spec, argv):
        return "%s %s %s -- %s; echo exit-status-$?" % ("/usr/bin/python3", WRAPPER, spec, argv)

    def check_untouched(self):
        """No file of the caller's, and none the environment names, was created or changed; the
        trap behind every proxy variable saw no connection."""
        assert not os.path.lexists(self.keylog), "root created the SSLKEYLOGFILE %s" % self.keylog
        assert not os.path.lexists("/etc/nologin")
        now = self.listing()
        assert now == self.files, "files of the caller changed: %s" % sorted(
            set(now.items()) ^ set(self.files.items()))
        try:
            conn, _ = self.trap.accept()
            conn.close()
            raise AssertionError("something connected to the caller's proxy")
        except BlockingIOError:
            pass

    def close(self):
        self.trap.close()


def fail_count(site, user):
    rec = site.read_record(user)
    return int(rec["fail_count"]) if rec else None


def record_size(site, user):
    return os.stat(site.record_path(user)).st_size


class Drive:
    """PIN, one wrong code, then the right one, on a pexpect child; notes what happened."""

    def __init__(self, c, site, smtp, user, done):
        self.c, self.site, self.smtp, self.user, self.done = c, site, smtp, user, done
        self.reached_code = False
        self.charged = None
        self.granted = False
        self.second_prompt = False
        # the module's grant, seen in the store: the wrong code's failure is cleared again
        self.module_granted = False

    def run(self):
        c = self.c
        if c.expect(["PIN: ", "exit-status-", pexpect.EOF, pexpect.TIMEOUT], timeout=30) != 0:
            return self
        c.sendline(PIN)
        if c.expect([ANY_OTP_PROMPT, "exit-status-", pexpect.EOF], timeout=60) != 0:
            return self
        self.reached_code = True
        code = extract_code(svc.mails_to(self.smtp, self.user.email)[-1])
        before = fail_count(self.site, self.user.name)
        c.sendline(svc.wrong_code(code))
        i = c.expect([ANY_OTP_PROMPT, "exit-status-", pexpect.EOF], timeout=60)
        self.charged = fail_count(self.site, self.user.name) == before + 1
        if i == 0:
            self.second_prompt = True
            c.sendline(code)
            c.expect(["exit-status-", pexpect.EOF], timeout=60)
            self.module_granted = fail_count(self.site, self.user.name) == 0
        try:
            c.expect(pexpect.EOF, timeout=30)
        except pexpect.TIMEOUT:
            pass
        self.granted = self.done in c.seen()
        return self


def later_logins_work(site, *names):
    """`emailotp check` (as root, in-process) for each user: the PIN opens a challenge (exit 3);
    a store lock left behind would make it fail with "store busy" (exit 2)."""
    for name in names:
        p = site.cli("check", name, input=PIN + "\n", timeout=60)
        assert p.returncode == 3, "login of %s after the hostile run: %d %s" % (name, p.returncode, p.stderr)


def mails_went_where_configured(smtp, allowed):
    for envelope in smtp.envelopes():
        assert set(envelope["rcpt_tos"]) <= set(allowed), envelope

from lib.env import HELPER  # noqa: E402  (EMAILOTP_HELPER, else install.sh's or the package's layout)


def root_can_raise_limits():
    """CAP_SYS_RESOURCE in the bounding set: root can raise a hard limit a caller lowered (some
    containers drop it; there the helper refuses such a caller instead)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return bool(int(line.split()[1], 16) >> 24 & 1)
    return False
