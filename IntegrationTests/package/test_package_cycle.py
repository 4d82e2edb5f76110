"""The package's life in a clean Debian 12 root (mmdebstrap --variant=apt bookworm, apt
resolving the package's own dependencies from the same sources as the host), in order:

  install -> files, modes, the account, nothing enabled; `emailotp demo` through the packaged
  module; the sshd, sudo and su suites (IntegrationTests/services) against it (on Debian 13 the
  sudo tests with sudo-rs as well);
  pam-auth-update --enable -> a pamtester login through common-auth asks for the code;
  apt remove -> no stack names the module, pamtester on common-auth still logs in;
  apt purge -> configuration gone, a store with tokens kept, an empty one removed;
  the previous version (laid out as 1.0.0, under /lib) installed, a token and an open challenge
  made, then the upgrade -> token, challenge (answered after the upgrade), a local configuration
  edit and the module (under /usr/lib now, a login through it works) all kept.

The tests share one root and run in file order (each step starts where the last one ended).
"""

import os
import re
import subprocess

import pytest

import chroot
from pkgsupport import REPO, deb_version
from lib.mail import extract_code, extract_txid

TOOLS = ("pamtester", "python3", "python3-pytest", "python3-pexpect", "python3-aiosmtpd",
         "openssl", "openssh-server", "openssh-client", "sudo", "passwd", "util-linux", "mount", "procps") \
    + (("sudo-rs",) if chroot.SUITE != "bookworm" else ())
MODULE = "/usr/lib/x86_64-linux-gnu/security/pam_emailotp.so"
USER, PASSWORD, PIN = "carol", "unix-Pass-1", "4711-carol"
MAILDIR = "/var/tmp/mail"


@pytest.fixture(scope="module")
def root(root_ok, deb, older_deb, cache_dir, workdir):
    base = chroot.base_tarball(cache_dir, include=TOOLS, name="package-tools")
    r = chroot.Root(workdir / "package-root", base)
    os.makedirs(r.file("/root/pkg"))
    for path in (deb, older_deb):
        subprocess.run(["cp", path, r.file("/root/pkg/")], check=True)
    r.copy_tree(REPO, "/src")
    r.run("apt-get update -qq")
    yield r
    if not os.environ.get("EMAILOTP_KEEP_TMP"):
        r.remove()


def apt(root, args):
    return root.run("apt-get %s -y -q -o Dpkg::Options::=--force-confold %s 2>&1" % (
        "-o APT::Get::Show-Versions=1", args))


def named_stacks(root):
    """Files in /etc/pam.d that name the module on a line that is not a comment."""
    p = root.run("grep -lE '^[^#]*pam_emailotp' /etc/pam.d/* || true")
    return p.stdout.split()


def test_install_resolves_dependencies_and_enables_nothing(root, deb):
    out = apt(root, "install /root/pkg/" + os.path.basename(deb)).stdout
    # libcurl4 on Debian 12, libcurl4t64 (which provides it) on 13.
    assert "libcurl4" in out and "Setting up libpam-emailotp" in out, out
    st = root.run("stat -c '%a %U:%G %n' " + " ".join([
        MODULE, "/usr/sbin/emailotp", "/usr/libexec/emailotp-helper", "/etc/security/emailotp.conf",
        "/var/lib/emailotp", "/usr/share/pam-configs/emailotp", "/etc/pam.d/emailotp",
        "/etc/fail2ban/filter.d/pam-emailotp.conf"])).stdout.splitlines()
    assert st == ["644 root:root " + MODULE, "755 root:root /usr/sbin/emailotp",
                  "4755 root:root /usr/libexec/emailotp-helper", "600 root:root /etc/security/emailotp.conf",
                  "700 root:root /var/lib/emailotp", "644 root:root /usr/share/pam-configs/emailotp",
                  "644 root:root /etc/pam.d/emailotp", "644 root:root /etc/fail2ban/filter.d/pam-emailotp.conf"], st
    account = root.run("getent passwd emailotp-lookup").stdout.strip().split(":")
    assert account[5] == "/nonexistent" and account[6] == "/usr/sbin/nologin", account
    assert int(account[2]) < 1000, account
    assert not os.path.exists(root.file("/nonexistent"))
    # Nothing enabled: no stack but the trial service names the module, no timer is on.
    assert named_stacks(root) == ["/etc/pam.d/emailotp"]
    assert not [n for n in os.listdir(root.file("/etc/systemd/system")) if "emailotp" in n] \
        if os.path.isdir(root.file("/etc/systemd/system")) else True
    wants = root.file("/etc/systemd/system/timers.target.wants")
    assert not os.path.isdir(wants) or not [n for n in os.listdir(wants) if "emailotp" in n]


def test_demo_through_the_packaged_module(root):
    p = root.run("emailotp demo")
    assert "a PAM login through " + MODULE in p.stdout, p.stdout
    assert "PAM result: Success" in p.stdout, p.stdout


def test_services_suites_against_the_package(root):
    """IntegrationTests/services (sshd, sudo, su) with the package's /usr/sbin/emailotp and
    module, as run-all.sh --no-install would run them after apt install. On Debian 13 the sudo
    tests run with sudo-rs too (pam.d-examples/sudo: right code in, wrong code refused)."""
    p = root.run("cd /src/IntegrationTests && /usr/bin/python3 -m pytest -q -p no:cacheprovider -x -rs "
                 "services/test_sshd.py services/test_sudo.py services/test_su.py 2>&1", check=False,
                 timeout=1200)
    assert p.returncode == 0, p.stdout[-8000:]
    assert re.search(r"\d+ passed", p.stdout), p.stdout[-2000:]
    if chroot.SUITE != "bookworm":
        assert "skipped" not in p.stdout, p.stdout[-3000:]


PAMTESTER_LOGIN = r'''
import glob, os, sys, pexpect
sys.path.insert(0, "/src/IntegrationTests")
from lib.mail import extract_code
want_code = sys.argv[1] == "code"
child = pexpect.spawn("pamtester", ["login", "%(user)s", "authenticate"], encoding="utf-8", timeout=60)
child.expect("Password: ")
child.sendline("%(password)s")
# pamtester sets no PAM_TTY: the code prompt carries where the code went.
code_prompt = r"(Email code: |Code sent to \S+ \(valid [^)]*\): )"
if want_code:
    child.expect(code_prompt)
    mails = sorted(glob.glob("%(maildir)s/new/*"), key=os.path.getmtime)
    child.sendline(extract_code(mails[-1]))
i = child.expect(["successfully authenticated", code_prompt, pexpect.EOF])
print(child.before)
sys.exit(0 if i == 0 else 1)
''' % {"user": USER, "password": PASSWORD, "maildir": MAILDIR}


def test_pam_auth_update_enable_asks_for_the_code(root):
    root.run("useradd --create-home %s && echo '%s:%s' | chpasswd" % (USER, USER, PASSWORD))
    root.run("printf 'mail_transport = maildir:%s\\n' >> /etc/security/emailotp.conf" % MAILDIR)
    root.run("emailotp enroll %s --email %s@example.org --pin-stdin" % (USER, USER), input=PIN + "\n")
    root.run("pam-auth-update --enable emailotp")
    assert "/etc/pam.d/common-auth" in named_stacks(root)
    root.run("cat > /root/login.py", input=PAMTESTER_LOGIN)
    p = root.run("python3 /root/login.py code", check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def test_remove_takes_the_module_out_of_every_stack(root):
    out = apt(root, "remove libpam-emailotp").stdout
    assert "Removing libpam-emailotp" in out, out
    assert named_stacks(root) == [], root.run("grep -r pam_emailotp /etc/pam.d || true").stdout
    assert not os.path.exists(root.file(MODULE))
    # common-auth still logs in with the Unix password alone.
    p = root.run("python3 /root/login.py password", check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    # remove keeps the configuration (conffiles) and the store.
    assert os.path.exists(root.file("/etc/security/emailotp.conf"))
    assert os.listdir(root.file("/var/lib/emailotp/users"))


def test_purge_removes_configuration_and_keeps_a_store_with_tokens(root, deb):
    p = apt(root, "purge libpam-emailotp")
    assert "kept /var/lib/emailotp" in p.stdout, p.stdout
    assert not os.path.exists(root.file("/etc/security/emailotp.conf"))
    assert not os.path.exists(root.file("/etc/fail2ban/filter.d/pam-emailotp.conf"))
    assert not os.path.exists(root.file("/etc/pam.d/emailotp"))
    assert os.listdir(root.file("/var/lib/emailotp/users")), "the tokens are kept"
    assert root.run("dpkg-query -W -f='${db:Status-Abbrev}' libpam-emailotp 2>/dev/null || true").stdout.strip() in ("", "un")
    # An empty store goes with the purge.
    root.run("rm -rf /var/lib/emailotp")
    apt(root, "install /root/pkg/" + os.path.basename(deb))
    assert os.path.isdir(root.file("/var/lib/emailotp"))
    apt(root, "purge libpam-emailotp")
    assert not os.path.exists(root.file("/var/lib/emailotp"))


def test_upgrade_keeps_token_challenge_and_configuration(root, deb, older_deb):
    apt(root, "install /root/pkg/" + os.path.basename(older_deb))
    assert root.run("dpkg-query -W -f='${Version}' libpam-emailotp").stdout == "0.0.1~test"
    assert "/lib/x86_64-linux-gnu/security/pam_emailotp.so" in root.run("dpkg -L libpam-emailotp").stdout.split()
    root.run("printf '# local edit\\nmail_transport = maildir:%s\\n' >> /etc/security/emailotp.conf" % MAILDIR)
    root.run("emailotp enroll %s --email %s@example.org --pin-stdin" % (USER, USER), input=PIN + "\n")
    # The first step of the challenge flow: the PIN alone mails a code and leaves a challenge open.
    first = root.run("emailotp check %s" % USER, input=PIN + "\n", check=False)
    assert first.returncode == 3, first.stdout + first.stderr
    txid = first.stdout.strip()
    assert re.fullmatch(r"\d{20}", txid), first.stdout
    before = open(root.file("/var/lib/emailotp/users/" + USER)).read()
    assert txid in before

    out = apt(root, "install /root/pkg/" + os.path.basename(deb)).stdout
    assert "Unpacking libpam-emailotp (%s) over (0.0.1~test)" % deb_version(deb) in out, out
    assert "# local edit" in open(root.file("/etc/security/emailotp.conf")).read()
    assert txid in root.run("emailotp challenges %s" % USER).stdout
    mails = sorted(os.listdir(root.file(MAILDIR + "/new")),
                   key=lambda n: os.path.getmtime(root.file(MAILDIR + "/new/" + n)))
    mail = root.file(MAILDIR + "/new/" + mails[-1])
    assert extract_txid(mail) == txid
    code = extract_code(mail)
    second = root.run("emailotp check %s --transaction-id %s" % (USER, txid), input=code + "\n", check=False)
    assert second.returncode == 0, second.stdout + second.stderr
    # The module moved from /lib to /usr/lib, the same file on merged-/usr: dpkg kept it.
    assert MODULE in root.run("dpkg -L libpam-emailotp").stdout.split()
    assert os.path.isfile(root.file(MODULE))
    demo = root.run("emailotp demo")
    assert "PAM result: Success" in demo.stdout, demo.stdout
    apt(root, "purge libpam-emailotp")
