"""Private namespaces for the real-client tests (IntegrationTests/clients).

A Namespace is a private mount namespace (and with net=True a private network
namespace with only `lo`, up) whose /dev is a tmpfs holding the usual device
nodes, /dev/net/tun, and a /dev/log served by devlog.py: the module's and the
servers' syslog lines land in a file the test reads.  Bind mounts given at
start put test files over /etc/pam.d, /etc/security, ...  The listener keeps the
namespaces alive; servers and clients enter them with nsenter (as root, or as
another user through setpriv).  Nothing outside the namespace changes.

    ns = Namespace(tmp_path / "ns", binds=[(pam_dir, "/etc/pam.d")], net=True).start()
    ns.run(["ip", "addr"])                    # CompletedProcess
    p = ns.popen(["dovecot", "-F", ...])      # Popen, stopped by ns.stop()
    ns.run([python, "app.py"], user="eoc-app-1a2b")
    ns.log_text()                             # everything logged to /dev/log
    ns.stop()
"""

import os
import select
import subprocess
import time
from lib.procs import stop_process  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"

_SETUP = r'''
d=$1; log=$2; net=$3; shift 3
mount -t tmpfs -o mode=755 none "$d"
for n in null zero random urandom tty full; do touch "$d/$n"; mount --bind "/dev/$n" "$d/$n"; done
mkdir "$d/pts" "$d/shm" "$d/net"
mount --bind /dev/pts "$d/pts"
mount -t tmpfs -o mode=1777 none "$d/shm"
if [ -e /dev/net/tun ]; then touch "$d/net/tun"; mount --bind /dev/net/tun "$d/net/tun"; fi
ln -s /proc/self/fd "$d/fd"; ln -s pts/ptmx "$d/ptmx"
mount --rbind "$d" /dev
while [ $# -gt 0 ]; do mount --bind "$1" "$2"; shift 2; done
if [ "$net" = yes ]; then ip link set lo up; fi
exec ''' + PYTHON + ' ' + os.path.join(HERE, "devlog.py") + ''' /dev/log "$log"
'''


class Namespace:
    def __init__(self, directory, binds=(), net=False):
        self.dir = str(directory)
        os.makedirs(self.dir, mode=0o755, exist_ok=True)
        self.devdir = os.path.join(self.dir, "dev")
        os.makedirs(self.devdir, mode=0o755, exist_ok=True)
        self.logfile = os.path.join(self.dir, "syslog")
        open(self.logfile, "a").close()
        self.binds = [(str(s), str(d)) for s, d in binds]
        self.net = net
        self.holder = None
        self.children = []

    def start(self):
        argv = ["unshare", "--mount", "--propagation", "private"] + (["--net"] if self.net else [])
        argv += ["--", "/bin/bash", "-ec", _SETUP, "bash", self.devdir, self.logfile,
                 "yes" if self.net else "no"]
        for src, dst in self.binds:
            assert os.path.exists(dst), "bind target %s must exist" % dst
            argv += [src, dst]
        self.holder = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
        fd = self.holder.stdout.fileno()
        r, _, _ = select.select([fd], [], [], 30)
        line = os.read(fd, 100) if r else b""
        if b"READY" not in line:
            self.holder.kill()
            raise RuntimeError("namespace did not start: %r %s" % (
                line, self.holder.stderr.read().decode(errors="replace")))
        return self

    def argv(self, argv, user=None):
        out = ["nsenter", "-t", str(self.holder.pid), "-m"] + (["-n"] if self.net else []) + ["--"]
        if user is not None:
            out += ["setpriv", "--reuid", user, "--regid", user, "--init-groups", "--"]
        return out + [str(a) for a in argv]

    def run(self, argv, user=None, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 120)
        return subprocess.run(self.argv(argv, user), **kw)

    def popen(self, argv, user=None, **kw):
        p = subprocess.Popen(self.argv(argv, user), **kw)
        self.children.append(p)
        return p

    def log_text(self):
        with open(self.logfile, errors="replace") as f:
            return f.read()

    def wait_log(self, needle, timeout=60, path=None):
        """Waits until `needle` appears in the syslog file (or in `path`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(path or self.logfile, errors="replace") as f:
                if needle in f.read():
                    return True
            time.sleep(0.1)
        return False

    def stop(self):
        for p in reversed(self.children):
            if p.poll() is None:
                stop_process(p, 15)
        if self.holder is not None and self.holder.poll() is None:
            stop_process(self.holder, 10)
