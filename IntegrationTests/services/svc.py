"""Helpers for the service tests: test users, the repo's pam.d examples,
mount namespaces, a private sshd, pexpect sessions.

Nothing here changes the machine's /etc/pam.d, /etc/ssh or /etc/sudoers: the
services run inside `unshare --mount --propagation private`, where the test
files are bind-mounted over the real ones for that namespace only.
"""

import os
import pwd
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pexpect

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(REPO, "pam.d-examples")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # IntegrationTests
from lib.env import EMAILOTP  # noqa: E402  (install.sh's or the package's layout)
from lib.procs import stop_process  # noqa: E402
PIN = "s3cret-PIN"           # the token PIN of every test user
MODULE_RE = re.compile(r"^(\s*auth\s+\S+\s+pam_emailotp\.so\b)(.*)$", re.M)

# shell run by `unshare`: bind-mount N (source, target) pairs, then exec argv
_NS_SCRIPT = r'''
n=$1; shift
while [ "$n" -gt 0 ]; do
    mount --bind "$1" "$2"
    shift 2
    n=$((n - 1))
done
exec "$@"
'''


# --------------------------------------------------------------------------
# the repo's examples

def read_example(name):
    with open(os.path.join(EXAMPLES, name)) as f:
        return f.read()


def substitute(text, *pairs):
    """Replace each (old, new): old must occur exactly once, so that a
    changed example makes the test fail instead of silently testing
    something else."""
    for old, new in pairs:
        n = text.count(old)
        assert n == 1, "expected %r exactly once in the example, found %d" % (old, n)
        text = text.replace(old, new)
    return text


def with_config(text, config_path):
    """Append config=PATH to every active pam_emailotp.so line (the only
    substitution the plain examples need: the module is installed, so its
    name stays as it is)."""
    override = os.environ.get("EMAILOTP_MODULE")

    def line(m):
        head = m.group(1).replace("pam_emailotp.so", override) if override else m.group(1)
        return "%s%s config=%s" % (head, m.group(2), config_path)
    new, n = MODULE_RE.subn(line, text)
    assert n >= 1, "no active pam_emailotp.so line in the example"
    return new


def module_lines(text):
    return [m.group(0).strip() for m in MODULE_RE.finditer(text)]


def write_file(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


# --------------------------------------------------------------------------
# namespaces

def ns_argv(binds, argv):
    """argv that runs `argv` in a private mount namespace with the given
    (source, target) bind mounts."""
    out = ["unshare", "--mount", "--propagation", "private", "--",
           "/bin/sh", "-ec", _NS_SCRIPT, "sh", str(len(binds))]
    for src, dst in binds:
        assert os.path.exists(dst), "bind target %s must exist" % dst
        out += [str(src), str(dst)]
    return out + [str(a) for a in argv]


def pam_dir_with(tmpdir, files):
    """A copy of /etc/pam.d with extra service files, for services that have
    no file on the machine (bind-mount it over /etc/pam.d)."""
    d = os.path.join(str(tmpdir), "pam.d")
    shutil.copytree("/etc/pam.d", d, symlinks=True)
    for name, text in files.items():
        write_file(os.path.join(d, name), text)
    return d


# --------------------------------------------------------------------------
# users

class User:
    def __init__(self, name, password):
        self.name = name
        self.password = password
        self.email = "%s@example.org" % name
        pw = pwd.getpwnam(name)
        self.uid = pw.pw_uid
        self.gid = pw.pw_gid
        self.home = pw.pw_dir


class Users:
    """Creates test users (eotp_xxxxxx, with a home and a password) and
    removes them at the end."""

    def __init__(self):
        self.created = []

    def create(self, password=True):
        name = "eotp_" + secrets.token_hex(4)
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
        self.created.append(name)
        pw = None
        if password:
            pw = "Pw-" + secrets.token_urlsafe(12)
            subprocess.run(["chpasswd"], input="%s:%s\n" % (name, pw), text=True, check=True)
        return User(name, pw)

    def cleanup(self):
        for name in self.created:
            uid = pwd.getpwnam(name).pw_uid
            subprocess.run(["userdel", "--force", "--remove", name],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # sudo's (by name) and sudo-rs's (by uid) time stamp files for the user, if made
            for ts in (os.path.join("/run/sudo/ts", name), "/run/sudo-rs/ts/%d" % uid):
                if os.path.lexists(ts):
                    os.unlink(ts)
        self.created = []


# --------------------------------------------------------------------------
# misc

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wrong_code(code):
    """A code of the same length that is certainly not `code`."""
    return "".join(str((int(c) + 1) % 10) for c in code)


def masked(address):
    """DESIGN.md: alice@example.com -> a***@e******.com"""
    local, domain = address.split("@", 1)
    name, dot, tld = domain.rpartition(".")
    if not dot:
        name, tld = domain, ""
    return "%s***@%s%s%s" % (local[0], name[0], "*" * (len(name) - 1), dot + tld)


def mails_to(smtp, address):
    return [m for m in smtp.messages() if address in str(m.get("To", ""))]


def spawn(argv, logfile, timeout=60):
    """pexpect session on a pty; everything the user sees goes to logfile."""
    child = pexpect.spawn(argv[0], argv[1:], timeout=timeout, encoding="utf-8",
                          codec_errors="replace", dimensions=(24, 200),
                          env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                               "LANG": "C", "LC_ALL": "C", "TERM": "dumb",
                               "HOME": "/root"})
    child.logfile_read = logfile
    return child


class Tee:
    """pexpect logfile: what the user saw, printed by pytest on failure."""

    def __init__(self):
        self.parts = []

    def write(self, s):
        self.parts.append(s)
        sys.stdout.write(s)

    def flush(self):
        sys.stdout.flush()

    def text(self):
        return "".join(self.parts)


def spawner():
    """The body of the `spawn` fixtures: yields spawn(argv, timeout=60) -> pexpect child whose
    seen() is everything the user saw so far; closes the children at the end."""
    children = []

    def _spawn(argv, timeout=60):
        tee = Tee()
        print("\n$ %s" % " ".join(argv[-6:]))
        child = spawn(argv, tee, timeout=timeout)
        child.seen = tee.text
        children.append(child)
        return child

    yield _spawn
    for c in children:
        if c.isalive():
            c.close(force=True)


def finish(child, timeout=60):
    """Read to EOF; returns (rest of output, exit status)."""
    child.expect(pexpect.EOF, timeout=timeout)
    rest = child.before
    child.close()
    status = child.exitstatus if child.exitstatus is not None else -(child.signalstatus or 0)
    return rest, status


# --------------------------------------------------------------------------
# sshd

class SSHD:
    """An sshd on a free loopback port, own config and host key in `tmpdir`,
    run in a private mount namespace with `pam_text` bind-mounted over
    /etc/pam.d/sshd."""

    def __init__(self, tmpdir, pam_text, *, allow_user, auth_methods,
                 max_auth_tries=6, extra="", listen=("127.0.0.1",)):
        self.dir = os.path.join(str(tmpdir), "sshd")
        os.makedirs(self.dir, mode=0o700)
        self.port = free_port()
        self.pam_file = write_file(os.path.join(self.dir, "pam.sshd"), pam_text)
        self.host_key = os.path.join(self.dir, "ssh_host_ed25519_key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "emailotp-test",
                        "-f", self.host_key], check=True)
        self.listen = list(listen)
        self.config = write_file(os.path.join(self.dir, "sshd_config"), "\n".join([
            "\n".join("ListenAddress %s" % a for a in self.listen),
            "HostKey %s" % self.host_key,
            "PidFile %s" % os.path.join(self.dir, "sshd.pid"),
            "UsePAM yes",
            "KbdInteractiveAuthentication yes",
            "PasswordAuthentication no",
            "PubkeyAuthentication yes",
            "AuthenticationMethods %s" % auth_methods,
            "AuthorizedKeysFile .ssh/authorized_keys",
            "AllowUsers %s" % allow_user,
            "MaxAuthTries %d" % max_auth_tries,
            "LoginGraceTime 90",
            "PrintMotd no",
            "PrintLastLog no",
            "LogLevel VERBOSE",
            extra,
            ""]), 0o600)
        self.proc = None
        self.log = []
        self._reader = None

    def start(self):
        # sshd refuses to start without its privilege separation directory,
        # which systemd (RuntimeDirectory=sshd) normally creates.  A directory
        # made here is removed again in stop(): the machine is left as it was.
        self._made_run_dir = not os.path.exists("/run/sshd")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        argv = ns_argv([(self.pam_file, "/etc/pam.d/sshd")],
                       ["/usr/sbin/sshd", "-D", "-e", "-f", self.config,
                        "-p", str(self.port)])
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, close_fds=True)
        fd = self.proc.stderr.fileno()
        buf = b""
        deadline = time.monotonic() + 30
        while b"Server listening on" not in buf:
            left = deadline - time.monotonic()
            r, _, _ = select.select([fd], [], [], max(left, 0))
            if not r:
                self.stop()
                raise RuntimeError("sshd did not start:\n" + buf.decode(errors="replace"))
            chunk = os.read(fd, 4096)
            if not chunk:
                self.proc.wait()
                raise RuntimeError("sshd exited (%s):\n%s"
                                   % (self.proc.returncode, buf.decode(errors="replace")))
            buf += chunk
        self.log.append(buf.decode(errors="replace"))
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        return self

    def _drain(self):
        for line in iter(self.proc.stderr.readline, b""):
            self.log.append(line.decode(errors="replace"))

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            stop_process(self.proc, 10)
        if self._reader is not None:
            self._reader.join(5)
        if getattr(self, "_made_run_dir", False):
            self._made_run_dir = False
            try:
                os.rmdir("/run/sshd")
            except OSError:
                pass

    def log_text(self):
        return "".join(self.log)

    def client_argv(self, user, methods, identity=None, prompts=1, command="echo OK-$((6*7))", host=None):
        argv = ["ssh", "-F", "/dev/null", "-p", str(self.port),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "BatchMode=no",
                "-o", "PreferredAuthentications=%s" % methods,
                "-o", "NumberOfPasswordPrompts=%d" % prompts,
                "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"]
        if identity:
            argv += ["-o", "IdentityFile=%s" % identity]
        else:
            argv += ["-o", "IdentityFile=none"]
        return argv + ["%s@%s" % (user, host or self.listen[0]), command]


def install_key(tmpdir, user):
    """A fresh ed25519 key pair in tmpdir; the public key goes into the
    user's ~/.ssh/authorized_keys.  Returns the private key path."""
    key = os.path.join(str(tmpdir), "id_ed25519_" + user.name)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", user.name, "-f", key],
                   check=True)
    ssh = os.path.join(user.home, ".ssh")
    os.makedirs(ssh, mode=0o700, exist_ok=True)
    shutil.copyfile(key + ".pub", os.path.join(ssh, "authorized_keys"))
    os.chmod(os.path.join(ssh, "authorized_keys"), 0o600)
    for p in (ssh, os.path.join(ssh, "authorized_keys")):
        os.chown(p, user.uid, user.gid)
    return key
