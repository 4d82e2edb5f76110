"""Paths of the installed product and a private test site (store + config).

How the services/ tests (sshd, sudo, su) use this library
--------------------------------------------------------
    import sys, pathlib
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # IntegrationTests
    from lib.env import TestSite, module_path, EMAILOTP
    from lib.smtp_capture import SMTPCapture
    from lib.mail import extract_code, extract_txid

    with SMTPCapture(tmp_path / "mail") as smtp:
        site = TestSite(tmp_path, smtp=smtp)           # store 0700 + config 0600, root
        site.enroll("alice", "alice@example.org", pin="s3cret-PIN")
        line = site.module_line()                      # "auth required /lib/.../pam_emailotp.so config=/tmp/.../emailotp.conf"
        # put `line` into /etc/pam.d/sshd (or a copy of it), log in, and when the
        # "Email code: " prompt appears read the code:
        code = extract_code(smtp.last())
        site.cleanup()                                 # optional: tmp_path is removed by pytest

Everything lives under the directory given to TestSite (normally pytest's
tmp_path): nothing touches /var/lib/emailotp or /etc/security/emailotp.conf.
The module reads the site through `config=PATH`; the config names the store
(`store = ...`), so every process (sshd, sudo, su, emailotp) sees the same site.

TestSite API
    site.dir, site.store, site.config                  paths (pathlib.Path)
    site.write_config(**keys)                          rewrite the config (0600 root); keys
                                                       given replace/extend site.keys; a value
                                                       None removes the key
    site.keys                                          dict of the current config keys
    site.cli(VERB, *args, input=None, check=False)     run `emailotp VERB --config C --store S ARGS`
                                                       -> subprocess.CompletedProcess (text)
    site.enroll(user, email, pin=DEFAULT_PIN)          `enroll USER --email ADDR --pin-stdin`
                                                       (pin=None: --no-pin); raises on failure
    site.module_line(args="", control="required", type_="auth")
    site.stack(args="", extra_before=(), extra_after=())  a whole service file (str)
    site.authenticate(user, answer, args="", **kw)     pamdriver.authenticate over site.stack(args)
    site.record_path(user) / site.read_record(user)    the store record (DESIGN.md format)
    site.challenges(user)                              parsed `challenge` lines of the record
    site.expire_challenges(user, txid=None)            move created/expires of open challenges
                                                       into the past (the module's clock cannot
                                                       be moved)
    site.snapshot()                                    {relative path: bytes} of the whole store
    encode_user(name)                                  DESIGN.md file-name encoding
"""

import os
import pathlib
import shutil
import stat
import subprocess
import time

# The installed layout: install.sh's (/usr/local) or the Debian package's (/usr, when only
# /usr/sbin/emailotp is there). EMAILOTP_BIN / EMAILOTP_MODULE / EMAILOTP_HELPER point the
# tests at a build that is not installed (parallel work trees on one machine).
PREFIX = "/usr" if (os.path.exists("/usr/sbin/emailotp")
                    and not os.path.exists("/usr/local/sbin/emailotp")) else "/usr/local"
EMAILOTP = os.environ.get("EMAILOTP_BIN") or PREFIX + "/sbin/emailotp"
HELPER = os.environ.get("EMAILOTP_HELPER") or PREFIX + "/libexec/emailotp-helper"
MANDIR = PREFIX + "/share/man"
PYTHON = "/usr/bin/python3"
MODULE_NAME = "pam_emailotp.so"
DEFAULT_PIN = "s3cret-PIN"
SENDER = "otp-sender@test.example"

# the standard test user
ALICE = "alice"
ALICE_EMAIL = "alice@example.com"
ALICE_MASKED = "a***@e******.com"

MODULE_DIRS = (
    "/usr/lib/x86_64-linux-gnu/security",
    "/lib/x86_64-linux-gnu/security",
    "/usr/lib/aarch64-linux-gnu/security",
    "/lib/aarch64-linux-gnu/security",
    "/usr/lib64/security",
    "/lib64/security",
    "/lib/security",
    "/usr/lib/security",
)


def module_dir():
    """The distribution's PAM module directory: the one holding pam_unix.so."""
    for d in MODULE_DIRS:
        if os.path.exists(os.path.join(d, "pam_unix.so")):
            return d
    raise RuntimeError("no directory with pam_unix.so found in %r" % (MODULE_DIRS,))


def module_path():
    return os.environ.get("EMAILOTP_MODULE") or os.path.join(module_dir(), MODULE_NAME)


def emailotp_path():
    return EMAILOTP


def installed():
    """(ok, reason): whether the module and the command are installed."""
    m = module_path()
    if not os.path.exists(m):
        return False, "%s is not installed" % m
    if not os.access(EMAILOTP, os.X_OK):
        return False, "%s is not installed" % EMAILOTP
    return True, ""


def encode_user(name):
    """DESIGN.md: A-Z a-z 0-9 _ - stay; . and @ stay except as the first byte;
    every other byte becomes %XX (upper-case hex)."""
    if isinstance(name, str):
        name = name.encode("utf-8", "surrogateescape")
    out = []
    for i, b in enumerate(name):
        c = chr(b)
        if (c.isascii() and c.isalnum()) or c in "_-":
            out.append(c)
        elif c in ".@" and i > 0:
            out.append(c)
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def _quote(v):
    v = str(v)
    if v != v.strip() or v == "" or "#" in v:
        return '"%s"' % v
    return v


def parse_record(text):
    """Parse a store record into a dict; 'challenge' is a list of dicts."""
    rec = {"challenges": [], "lines": text.splitlines()}
    for line in rec["lines"]:
        parts = line.split(" ")
        key = parts[0]
        if key == "challenge" and len(parts) >= 6:
            rec["challenges"].append({
                "txid": parts[1], "hmac": parts[2], "created": int(parts[3]),
                "expires": int(parts[4]), "tries_left": int(parts[5])})
        elif key:
            rec[key] = line[len(key) + 1:]
    return rec


class TestSite:
    __test__ = False  # not a pytest test class

    def __init__(self, tmpdir, *, smtp=None, keys=None, name="site"):
        self.dir = pathlib.Path(tmpdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chown(self.dir, 0, 0)
        os.chmod(self.dir, 0o755)
        self.store = self.dir / "store"
        self.store.mkdir(mode=0o700, exist_ok=True)
        os.chown(self.store, 0, 0)
        os.chmod(self.store, 0o700)
        self.config = self.dir / "emailotp.conf"
        self.module = module_path()
        self.smtp = smtp
        self.keys = {
            "store": str(self.store),
            "mail_sender": SENDER,
            "mail_timeout": 10,
        }
        if smtp is not None:
            self.keys.update(mail_server="127.0.0.1", mail_port=smtp.port)
        if keys:
            self.keys.update(keys)
        self.write_config()

    # -- configuration
    def write_config(self, **keys):
        for k, v in keys.items():
            if v is None:
                self.keys.pop(k, None)
            else:
                self.keys[k] = v
        text = "# pam_emailotp integration test site\n" + "".join(
            "%s = %s\n" % (k, _quote(v)) for k, v in self.keys.items())
        self.write_file(self.config, text, 0o600)
        return self.config

    @staticmethod
    def write_file(path, text, mode=0o600):
        path = pathlib.Path(path)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
        os.chown(tmp, 0, 0)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
        return path

    # -- the command
    def cli_argv(self, *args):
        """`emailotp VERB --config C --store S ARGS...`: the global options follow
        the verb (swift-argument-parser declares them on every verb)."""
        args = [str(a) for a in args]
        if not args:
            return [EMAILOTP, "--config", str(self.config), "--store", str(self.store)]
        return [EMAILOTP, args[0], "--config", str(self.config), "--store", str(self.store)] + \
            args[1:]

    def cli(self, *args, input=None, check=False, timeout=60, env=None):
        p = subprocess.run(self.cli_argv(*args), input=input, capture_output=True,
                           text=True, timeout=timeout, env=env)
        if check and p.returncode != 0:
            raise AssertionError("emailotp %s failed (%d):\nstdout: %s\nstderr: %s"
                                 % (" ".join(map(str, args)), p.returncode, p.stdout, p.stderr))
        return p

    def enroll(self, user, email, pin=DEFAULT_PIN, extra=()):
        if pin is None:
            return self.cli("enroll", user, "--email", email, "--no-pin", *extra, check=True)
        return self.cli("enroll", user, "--email", email, "--pin-stdin", *extra,
                        input=pin + "\n", check=True)

    # -- PAM
    def module_line(self, args="", control="required", type_="auth", config=True):
        parts = [type_, control, self.module]
        if config:
            parts.append("config=%s" % self.config)
        if args:
            parts.append(args)
        return " ".join(parts)

    def stack(self, args="", extra_before=(), extra_after=(), control="required"):
        lines = list(extra_before) + [self.module_line(args, control)] + list(extra_after)
        lines.append("account required pam_permit.so")
        return "\n".join(lines) + "\n"

    def authenticate(self, user, answer=None, args="", stack=None, **kw):
        from .pamdriver import authenticate
        return authenticate(user, stack if stack is not None else self.stack(args), answer, **kw)

    # -- the store
    def record_path(self, user):
        return self.store / "users" / encode_user(user)

    def read_record(self, user):
        p = self.record_path(user)
        return parse_record(p.read_text()) if p.exists() else None

    def challenges(self, user):
        r = self.read_record(user)
        return r["challenges"] if r else []

    def expire_challenges(self, user, txid=None, ago=600):
        """Rewrite the record so that the open challenge(s) expired `ago`
        seconds ago (created before that).  Keeps mode 0600 root; holds the
        per-user lock file while rewriting when it exists."""
        import fcntl
        p = self.record_path(user)
        lockp = self.store / "locks" / encode_user(user)
        lockfd = None
        if lockp.exists():
            lockfd = os.open(lockp, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
            fcntl.flock(lockfd, fcntl.LOCK_EX)
        try:
            lines = p.read_text().splitlines()
            now = int(time.time())
            changed = 0
            out = []
            for line in lines:
                parts = line.split(" ")
                if parts[0] == "challenge" and len(parts) >= 6 and (txid is None or parts[1] == txid):
                    validity = max(int(parts[4]) - int(parts[3]), 30)
                    parts[4] = str(now - ago)
                    parts[3] = str(now - ago - validity)
                    line = " ".join(parts)
                    changed += 1
                out.append(line)
            assert changed, "no open challenge to expire in %s:\n%s" % (p, "\n".join(lines))
            self.write_file(p, "\n".join(out) + "\n", 0o600)
            return changed
        finally:
            if lockfd is not None:
                os.close(lockfd)

    def snapshot(self):
        """{relative path: (mode, bytes or None for dirs)} of the store."""
        snap = {}
        for root, dirs, files in os.walk(self.store):
            for n in dirs + files:
                full = os.path.join(root, n)
                rel = os.path.relpath(full, self.store)
                st = os.lstat(full)
                if stat.S_ISREG(st.st_mode):
                    with open(full, "rb") as f:
                        snap[rel] = (stat.S_IMODE(st.st_mode), f.read())
                else:
                    snap[rel] = (stat.S_IMODE(st.st_mode), None)
        return snap

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
