"""`groups` and `trusted_networks` (emailotp.conf(5)) end to end: real sudo and sshd
with a local group, sshd reached from two network namespaces (one inside
trusted_networks, one outside), and pamtester with a PAM_RHOST that is a host
name resolving inside the list.

Groups and users are made by the tests and removed after them; the network
namespaces and veth pairs too (run inside `/work/tools/sandbox --net` or a CI
machine: they live in the namespace the test runs in).  The addresses are from
198.18.0.0/15, the range set aside for network tests (RFC 2544).
"""

import os
import secrets
import subprocess

import pexpect
import pytest

from lib.mail import extract_code

import svc

pytestmark = pytest.mark.services

MARKER = "OK-42"
ROOT_OUTPUT = "sudo-uid-0"
SUDO_CODE_PROMPT = r"Code sent to (\S+) \(valid \d+ min\): "
# pamtester sets no PAM_TTY: the code prompt says where the code went.
ANY_CODE_PROMPT = r"Code sent to \S+ \(valid \d+ min\): |Email code: "


@pytest.fixture
def groups(product):
    """make(*users) -> the name of a new local group with those members."""
    made = []

    def make(*members):
        name = "eotpg_" + secrets.token_hex(3)
        subprocess.run(["groupadd", name], check=True)
        made.append(name)
        for user in members:
            subprocess.run(["gpasswd", "-a", user.name, name], check=True, stdout=subprocess.DEVNULL)
        return name

    yield make
    for name in made:
        subprocess.run(["groupdel", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def code_mails(smtp, user):
    return [m for m in svc.mails_to(smtp, user.email) if m.get("X-EmailOTP-Transaction-Id")]


# --------------------------------------------------------------------------- sudo

def sudo_argv(tmp_path, site, user, module_args):
    """The repo's sudo example (password, then code) with `module_args` on the module line."""
    text = svc.substitute(svc.read_example("sudo"),
                          ("pam_emailotp.so pin=none", "pam_emailotp.so pin=none " + module_args))
    tag = secrets.token_hex(3)
    pam = svc.write_file(tmp_path / ("pam.sudo." + tag), svc.with_config(text, site.config))
    sudoers = svc.write_file(tmp_path / ("sudoers." + tag), "\n".join([
        "Defaults env_reset",
        'Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"',
        "Defaults timestamp_timeout=0",
        "Defaults lecture=never",
        "Defaults passwd_tries=1",
        "root ALL=(ALL:ALL) ALL",
        "%s ALL=(ALL:ALL) ALL" % user.name,
        ""]), 0o440)
    return svc.ns_argv([(pam, "/etc/pam.d/sudo"), (sudoers, "/etc/sudoers")],
                       ["su", "--pty", user.name, "-c", "sudo /bin/sh -c 'echo sudo-uid-$(id -u)'"])


def sudo_asks_code(spawn, argv, user, smtp):
    """Runs sudo with the user's password; answers the code prompt when it comes.
    True when a code was asked (and answered), False when the password alone let
    the user in; sudo must succeed either way."""
    c = spawn(argv)
    c.expect(r"\[sudo\] password for %s: " % user.name)
    c.sendline(user.password)
    i = c.expect([SUDO_CODE_PROMPT, ROOT_OUTPUT, pexpect.EOF])
    asked = i == 0
    if asked:
        c.sendline(extract_code(code_mails(smtp, user)[-1]))
        c.expect(ROOT_OUTPUT)
    assert i != 2, "sudo failed: %r" % c.seen()
    _, status = svc.finish(c)
    assert status == 0
    return asked


def test_sudo_groups_member_asked_others_pass_with_the_password(tmp_path, site, smtp, users, groups, spawn):
    member, other = users.create(), users.create()
    for u in (member, other):
        site.enroll(u.name, u.email, pin=None)
    admins = groups(member)
    contractors = groups(member)

    assert sudo_asks_code(spawn, sudo_argv(tmp_path, site, member, "groups=" + admins), member, smtp)
    assert not sudo_asks_code(spawn, sudo_argv(tmp_path, site, other, "groups=" + admins), other, smtp)
    assert len(code_mails(smtp, member)) == 1 and code_mails(smtp, other) == []

    # !: an excluded group wins over a listed one; exclusions alone ask everyone else.
    both = "groups=%s,!%s" % (admins, contractors)
    assert not sudo_asks_code(spawn, sudo_argv(tmp_path, site, member, both), member, smtp)
    only_not = "groups=!" + contractors
    assert not sudo_asks_code(spawn, sudo_argv(tmp_path, site, member, only_not), member, smtp)
    assert sudo_asks_code(spawn, sudo_argv(tmp_path, site, other, only_not), other, smtp)
    assert len(code_mails(smtp, member)) == 1 and len(code_mails(smtp, other)) == 1


def test_sudo_non_member_still_needs_the_password(tmp_path, site, smtp, users, groups, spawn):
    """PAM_IGNORE is not success: the stack's password still decides."""
    member, other = users.create(), users.create()
    site.enroll(other.name, other.email, pin=None)
    admins = groups(member)
    c = spawn(sudo_argv(tmp_path, site, other, "groups=" + admins))
    c.expect(r"\[sudo\] password for %s: " % other.name)
    c.sendline("not-the-password")
    c.expect(pexpect.EOF)
    _, status = svc.finish(c)
    assert status != 0 and ROOT_OUTPUT not in c.seen()
    assert code_mails(smtp, other) == []


# --------------------------------------------------------------------------- sshd, groups

def test_sshd_groups_with_password_then_code(tmp_path, site, smtp, users, groups, spawn):
    """The example's "Unix password, then mailed code" variant with groups=: a member
    types the password and the code, a non-member the password alone."""
    member, other = users.create(), users.create()
    for u in (member, other):
        site.enroll(u.name, u.email, pin=None)
    admins = groups(member)
    text = svc.substitute(svc.read_example("sshd"),
                          ("\n# @include common-auth\n", "\n@include common-auth\n"),
                          ("pam_emailotp.so pin=none", "pam_emailotp.so pin=none groups=" + admins))
    d = tmp_path / "sshd-groups"
    d.mkdir()
    sshd = svc.SSHD(d, svc.with_config(text, site.config), allow_user="%s %s" % (member.name, other.name),
                    auth_methods="keyboard-interactive").start()
    try:
        for user, asked in ((member, True), (other, False)):
            c = spawn(sshd.client_argv(user.name, "keyboard-interactive"))
            c.expect("Password: ")
            c.sendline(user.password)
            i = c.expect(["Email code: ", MARKER, "Permission denied", pexpect.EOF])
            assert i == (0 if asked else 1), "%s: %r" % (user.name, c.seen())
            if asked:
                c.sendline(extract_code(code_mails(smtp, user)[-1]))
                c.expect(MARKER)
            _, status = svc.finish(c)
            assert status == 0
        assert len(code_mails(smtp, member)) == 1 and code_mails(smtp, other) == []
    finally:
        sshd.stop()
        print(sshd.log_text())


# --------------------------------------------------------------------------- trusted networks

@pytest.fixture
def netns(product):
    """make(n) -> (namespace, client address, server address): a network namespace
    joined to this one by a veth pair on 198.18.n.0/24; removed after the test."""
    namespaces, links = [], []

    def make(n):
        tag = secrets.token_hex(3)
        ns, near, far = "eotp" + tag, "veo" + tag, "vep" + tag
        subprocess.run(["ip", "netns", "add", ns], check=True)
        namespaces.append(ns)
        subprocess.run(["ip", "link", "add", near, "type", "veth", "peer", "name", far], check=True)
        links.append(near)
        for argv in (["ip", "link", "set", far, "netns", ns],
                     ["ip", "addr", "add", "198.18.%d.1/24" % n, "dev", near],
                     ["ip", "link", "set", near, "up"],
                     ["ip", "-n", ns, "addr", "add", "198.18.%d.2/24" % n, "dev", far],
                     ["ip", "-n", ns, "link", "set", far, "up"],
                     ["ip", "-n", ns, "link", "set", "lo", "up"]):
            subprocess.run(argv, check=True)
        return ns, "198.18.%d.2" % n, "198.18.%d.1" % n

    yield make
    for link in links:
        subprocess.run(["ip", "link", "del", link], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for ns in namespaces:
        subprocess.run(["ip", "netns", "del", ns], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_sshd_trusted_network_skips_the_code_only_inside(tmp_path, site, smtp, users, netns, spawn):
    """Key first, then the code (the repo's sshd example) with trusted_networks and the
    pam_permit line the example documents for a module that may ignore: from the
    namespace inside the list no code, from the one outside a code."""
    inside, outside = netns(1), netns(2)
    u = users.create()
    site.enroll(u.name, u.email, pin=None)
    key = svc.install_key(tmp_path, u)
    text = svc.substitute(svc.read_example("sshd"),
                          ("auth       required     pam_emailotp.so pin=none\n",
                           "auth       required     pam_emailotp.so pin=none trusted_networks=198.18.1.0/24\n"
                           "auth       optional     pam_permit.so\n"))
    d = tmp_path / "sshd-nets"
    d.mkdir()
    sshd = svc.SSHD(d, svc.with_config(text, site.config), allow_user=u.name,
                    auth_methods="publickey,keyboard-interactive", listen=(inside[2], outside[2])).start()
    try:
        c = spawn(["ip", "netns", "exec", inside[0]]
                  + sshd.client_argv(u.name, "publickey,keyboard-interactive", identity=key, host=inside[2]))
        i = c.expect([MARKER, "Email code: ", "Permission denied", pexpect.EOF])
        assert i == 0, "inside the list: expected no code, saw %r" % c.seen()
        assert svc.finish(c)[1] == 0
        assert code_mails(smtp, u) == []

        c = spawn(["ip", "netns", "exec", outside[0]]
                  + sshd.client_argv(u.name, "publickey,keyboard-interactive", identity=key, host=outside[2]))
        i = c.expect(["Email code: ", MARKER, "Permission denied", pexpect.EOF])
        assert i == 0, "outside the list: expected the code prompt, saw %r" % c.seen()
        c.sendline(extract_code(code_mails(smtp, u)[-1]))
        c.expect(MARKER)
        assert svc.finish(c)[1] == 0
        assert len(code_mails(smtp, u)) == 1
        log = sshd.log_text()
        assert "from %s" % inside[1] in log and "from %s" % outside[1] in log
    finally:
        sshd.stop()
        print(sshd.log_text())


def test_a_host_name_resolving_inside_the_list_is_asked(tmp_path, site, smtp, users, spawn):
    """pamtester with PAM_RHOST set to a name that /etc/hosts resolves inside
    trusted_networks: the name is never resolved, so the code is asked; the literal
    address is not asked."""
    u = users.create()
    site.enroll(u.name, u.email, pin=None)
    name = "trusted-client-%s.example" % secrets.token_hex(3)
    hosts = svc.write_file(tmp_path / "hosts", open("/etc/hosts").read() + "\n198.18.1.2 %s\n" % name)
    service = "eotp-nets-" + secrets.token_hex(3)
    pam_dir = svc.pam_dir_with(tmp_path, {service: "auth required pam_emailotp.so pin=none "
                                          "trusted_networks=198.18.1.0/24 config=%s\n"
                                          "auth optional pam_permit.so\n"
                                          "account required pam_permit.so\n" % site.config})
    binds = [(pam_dir, "/etc/pam.d"), (hosts, "/etc/hosts")]

    resolved = subprocess.run(svc.ns_argv(binds, ["getent", "hosts", name]), capture_output=True, text=True)
    assert resolved.stdout.split()[:1] == ["198.18.1.2"], "the name must resolve inside the list"

    c = spawn(svc.ns_argv(binds, ["pamtester", "-I", "rhost=" + name, service, u.name, "authenticate"]))
    c.expect(ANY_CODE_PROMPT)
    c.sendline(extract_code(code_mails(smtp, u)[-1]))
    c.expect("successfully authenticated")
    assert svc.finish(c)[1] == 0

    c = spawn(svc.ns_argv(binds, ["pamtester", "-I", "rhost=198.18.1.2", service, u.name, "authenticate"]))
    i = c.expect(["successfully authenticated", ANY_CODE_PROMPT, pexpect.EOF])
    assert i == 0, c.seen()
    assert svc.finish(c)[1] == 0
    assert len(code_mails(smtp, u)) == 1


# --------------------------------------------------------------------------- a directory group

def test_a_directory_group_from_nss_counts(tmp_path, site, smtp, users, spawn):
    """A group that only an NSS module knows (the test module standing in for LDAP/SSSD,
    reached through getgrouplist's initgroups_dyn): its member is asked, another user is
    ignored and passes with the stack's other module."""
    libdir = tmp_path / "nsslib"
    libdir.mkdir()
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(libdir / "libnss_emailotptest.so.2"),
                    os.path.join(svc.REPO, "IntegrationTests", "nss", "nss_emailotptest.c")], check=True)
    nsswitch = svc.write_file(tmp_path / "nsswitch.conf", "".join(
        ("group: files emailotptest\n" if line.startswith("group:") else line + "\n")
        for line in open("/etc/nsswitch.conf").read().splitlines()))
    member, other = users.create(), users.create()
    for u in (member, other):
        site.enroll(u.name, u.email, pin=None)
    group = "dir-admins-" + secrets.token_hex(3)
    assert subprocess.run(["getent", "group", group]).returncode != 0, "only the test NSS module knows it"
    service = "eotp-dirgroup-" + secrets.token_hex(3)
    pam_dir = svc.pam_dir_with(tmp_path, {service: "auth required pam_emailotp.so pin=none groups=%s config=%s\n"
                                          "auth optional pam_permit.so\n"
                                          "account required pam_permit.so\n" % (group, site.config)})
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TERM": "dumb", "LD_LIBRARY_PATH": str(libdir),
           "EMAILOTP_NSS_GROUP": group, "EMAILOTP_NSS_MEMBERS": member.name}
    binds = [(pam_dir, "/etc/pam.d"), (nsswitch, "/etc/nsswitch.conf")]

    def login(user):
        argv = svc.ns_argv(binds, ["pamtester", service, user.name, "authenticate"])
        return pexpect.spawn(argv[0], argv[1:], env=env, encoding="utf-8", timeout=60)

    c = login(member)
    try:
        c.expect(ANY_CODE_PROMPT)
        c.sendline(extract_code(code_mails(smtp, member)[-1]))
        c.expect("successfully authenticated")
        c.expect(pexpect.EOF)
    finally:
        c.close()
    assert c.exitstatus == 0

    c = login(other)
    try:
        i = c.expect(["successfully authenticated", ANY_CODE_PROMPT, pexpect.EOF])
        assert i == 0, c.before
        c.expect(pexpect.EOF)
    finally:
        c.close()
    assert c.exitstatus == 0
    assert len(code_mails(smtp, member)) == 1 and code_mails(smtp, other) == []
