"""Clean Debian 12 roots made by mmdebstrap, and commands run inside them.

    base = base_tarball(cache_dir, include=("pamtester",))     # mmdebstrap --variant=apt bookworm
    root = Root(tmp_path / "root", base)                       # unpacked, private
    root.run("apt-get update && apt-get install -y ./x.deb", binds=[("/opt/swift", "/opt/swift")])

Every command runs in a private mount and PID namespace: /proc and a minimal /dev (null, zero,
random, urandom, tty, full, a new devpts, shm) are mounted inside the root for that command only,
plus the read-only bind mounts given; nothing else of the host is visible. The network is the
caller's (apt inside fetches from the same sources as the host, /etc/apt/sources.list.d).
"""

import hashlib
import os
import shutil
import subprocess
import time
import urllib.request

# EMAILOTP_PACKAGE_SUITE=trixie: the same tests in Debian 13 roots (with EMAILOTP_DEB, the
# package built on Debian 12 installed on 13, as on a fleet of mixed releases).
# test_trixie_source.py asks for Debian 13 roots by name (suite="trixie"), whatever SUITE is.
SUITE = os.environ.get("EMAILOTP_PACKAGE_SUITE") or "bookworm"
HOST_SOURCES = "/etc/apt/sources.list.d/debian.sources"
PROBE = "http://deb.debian.org/debian/dists/%s/Release"


def mirrors(suite=None):
    """The host's sources for its own release; the Debian mirror's main, updates and security
    suites for another."""
    suite = suite or SUITE
    host = open("/etc/os-release").read() if os.path.exists("/etc/os-release") else ""
    if os.path.exists(HOST_SOURCES) and "VERSION_CODENAME=%s\n" % suite in host:
        return [HOST_SOURCES]
    return ["deb http://deb.debian.org/debian %s main" % suite,
            "deb http://deb.debian.org/debian %s-updates main" % suite,
            "deb http://deb.debian.org/debian-security %s-security main" % suite]

_NS = r'''
set -e
root=$1; n=$2; shift 2
# The root a mount point of its own, as / is on a real system (unshare --propagation inside
# needs one: the services tests run sshd and su in mount namespaces).
mount --bind "$root" "$root"
mount --make-rprivate "$root"
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=755 dev "$root/dev"
for node in null zero random urandom tty full; do
    touch "$root/dev/$node"; mount --bind "/dev/$node" "$root/dev/$node"
done
mkdir -p "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts "$root/dev/pts"
mount -t tmpfs -o mode=1777 shm "$root/dev/shm"
ln -s pts/ptmx "$root/dev/ptmx"; ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"; ln -s /proc/self/fd/1 "$root/dev/stdout"; ln -s /proc/self/fd/2 "$root/dev/stderr"
while [ "$n" -gt 0 ]; do
    mkdir -p "$root$2"
    mount --bind "$1" "$root$2"
    mount -o remount,bind,ro "$root$2"
    shift 2; n=$((n - 1))
done
[ -s /etc/resolv.conf ] && [ ! -s "$root/etc/resolv.conf" ] && cat /etc/resolv.conf > "$root/etc/resolv.conf" || true
exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
'''


def network_reason(suite=None):
    """None when the Debian mirror answers for the suite, else why not."""
    if not shutil.which("mmdebstrap"):
        return "mmdebstrap is not installed"
    probe = PROBE % (suite or SUITE)
    try:
        with urllib.request.urlopen(probe, timeout=15) as r:
            r.read(64)
        return None
    except OSError as e:
        return "no network to %s (%s): the chroot tests need apt" % (probe, e)


def base_tarball(cache_dir, include=(), name="base", suite=None):
    """A tarball of `mmdebstrap --variant=apt SUITE` (or `suite`, with `include`), made once per
    cache directory and day."""
    suite = suite or SUITE
    os.makedirs(cache_dir, exist_ok=True)
    tag = hashlib.sha256(" ".join(sorted(include)).encode()).hexdigest()[:8]
    tar = os.path.join(cache_dir, "%s-%s-%s-%s.tar" % (suite, name, tag, time.strftime("%Y%m%d")))
    if os.path.exists(tar):
        return tar
    argv = ["mmdebstrap", "--variant=apt", "--quiet", "--format=tar", "--mode=root"]
    if include:
        argv.append("--include=" + ",".join(include))
    argv += [suite, tar + ".tmp"] + mirrors(suite)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise RuntimeError("mmdebstrap failed (%d):\n%s\n%s" % (p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    os.rename(tar + ".tmp", tar)
    return tar


class Root:
    def __init__(self, path, tarball):
        self.path = str(path)
        os.makedirs(self.path)
        subprocess.run(["tar", "-xf", tarball, "-C", self.path, "--numeric-owner"], check=True)

    def file(self, inside):
        return os.path.join(self.path, inside.lstrip("/"))

    def run(self, script, binds=(), check=True, timeout=900, input=None):
        """`bash -c script` inside the root, as root; binds: (host path, path inside) read-only."""
        flat = [x for pair in binds for x in pair]
        argv = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
                "sh", "-c", _NS, "ns", self.path, str(len(binds))] + flat + ["/bin/bash", "-c", script]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)
        if check and p.returncode != 0:
            raise AssertionError("in the chroot, exit %d: %s\n--- stdout\n%s\n--- stderr\n%s"
                                 % (p.returncode, script, p.stdout[-6000:], p.stderr[-6000:]))
        return p

    def copy_tree(self, source, inside):
        """The source tree's tracked and new files (as a fresh clone sees them, plus edits)."""
        dest = self.file(inside)
        os.makedirs(dest, exist_ok=True)
        files = subprocess.run(["git", "-C", source, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                               capture_output=True, check=True).stdout
        tar = subprocess.Popen(["tar", "-C", source, "--null", "--no-recursion", "--ignore-failed-read",
                                "-T", "-", "-cf", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        unpack = subprocess.Popen(["tar", "-C", dest, "-xf", "-"], stdin=tar.stdout)
        tar.stdout.close()
        tar.stdin.write(files)
        tar.stdin.close()
        assert unpack.wait() == 0 and tar.wait() == 0

    def remove(self):
        subprocess.run(["rm", "-rf", "--one-file-system", self.path], check=False)
