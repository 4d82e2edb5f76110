"""emailotp config-check reads the PAM stacks, sshd_config and sudoers: one test per rule, each
with a broken and a fixed example written into a temporary directory, and the repository's
pam.d-examples/ (with Debian 12's common-* files) pass clean.

Rules (emailotp(8), CONFIG-CHECK RULES): failure-passes, nullok-then-grant,
success-skips-module, use-first-pass-unset, bad-argument, bad-control, include-missing,
include-loop, include-depth, sshd-usepam, sshd-kbdinteractive, sshd-authmethods, sudo-timestamp; notes:
rootok-skips, sudo-no-authentication, sshd-without-module, sudo-without-module, no-service,
users-without-token, ignore-refuses, groups-unknown; ignore-grants-without-factor and
trusted-everywhere (groups, trusted_networks); and address-command-untrusted, address-command-user (the configuration's
address_command and the account it runs as)."""

import json
import os
import pathlib
import shutil
import subprocess

import pytest

from lib.env import TestSite, EMAILOTP

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
DEBIAN_PAM = HERE / "data" / "debian12-pam.d"   # Debian 12's pam-auth-update output
COMMON_AUTH = (DEBIAN_PAM / "common-auth").read_text()

GOOD_SSHD = ("UsePAM yes\nKbdInteractiveAuthentication yes\n"
             "AuthenticationMethods publickey,keyboard-interactive\nPasswordAuthentication no\n")
GOOD_SUDOERS = "Defaults env_reset\nDefaults timestamp_timeout=0\nroot ALL=(ALL:ALL) ALL\n"
PASSWD = ("root:x:0:0:root:/root:/bin/bash\n"
          "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
          "alice:x:1000:1000::/home/alice:/bin/bash\n"
          "bob:x:1001:1001::/home/bob:/bin/bash\n"
          "svc:x:1002:1002::/srv:/usr/sbin/nologin\n"
          "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")


class Box:
    """A pam.d directory, sshd_config, sudoers and passwd under one temporary directory."""

    def __init__(self, root, site):
        self.root = pathlib.Path(root)
        self.site = site
        self.pam = self.root / "pam.d"
        self.pam.mkdir(parents=True)
        for f in DEBIAN_PAM.iterdir():
            shutil.copy(f, self.pam / f.name)
        self.sshd = self.root / "sshd_config"
        self.sudoers = self.root / "sudoers"
        self.passwd = self.root / "passwd"
        self.write("sshd_config", GOOD_SSHD)
        self.write("sudoers", GOOD_SUDOERS)
        self.write("passwd", PASSWD)

    def write(self, rel, text):
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p

    def service(self, name, text):
        return self.write("pam.d/" + name, text)

    def run(self, *extra, json_out=True):
        argv = [EMAILOTP, "config-check", "--config", str(self.site.config), "--store", str(self.site.store),
                "--pam-dir", str(self.pam), "--sshd-config", str(self.sshd), "--sudoers", str(self.sudoers),
                "--passwd", str(self.passwd)] + list(extra)
        if json_out:
            argv.append("--json")
        p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if not json_out:
            return p
        try:
            p.report = json.loads(p.stdout)
        except ValueError:
            raise AssertionError("not JSON (rc %d):\n%s\n%s" % (p.returncode, p.stdout, p.stderr))
        return p

    def rules(self, *extra):
        p = self.run(*extra)
        return p.returncode, [(f["rule"], f["severity"]) for f in p.report["findings"]], p.report


@pytest.fixture
def box(product, tmp_path):
    site = TestSite(tmp_path)
    return Box(tmp_path / "box", site)


def problems(findings):
    return sorted({r for r, s in findings if s == "problem"})


def sshd_service(box, module_line="auth required pam_emailotp.so pin=none"):
    box.service("sshd", "@include common-auth\n%s\n@include common-account\n" % module_line)


# ---------------------------------------------------------------- the examples

def test_repository_examples_pass_clean(box):
    for f in (REPO / "pam.d-examples").iterdir():
        if f.name != "README.md":
            shutil.copy(f, box.pam / f.name)
    p = box.run()
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.report["problems"] == 0, p.report
    assert set(p.report["services"]) >= {"sshd", "sudo", "su", "emailotp", "openvpn"}
    text = box.run(json_out=False)
    assert text.returncode == 0 and "stacks OK" in text.stdout, text.stdout + text.stderr


def test_pam_auth_update_profile_passes_clean_with_nullok(box):
    """pam-configs/emailotp merged into common-auth the way pam-auth-update does (Additional
    block after pam_permit): no problem, and no service without nullok."""
    profile = (REPO / "pam-configs" / "emailotp").read_text()
    auth = [l.strip() for l in profile.split("Auth:", 1)[1].splitlines() if l.strip()]
    assert auth and all("nullok" in l.split() for l in auth), profile
    box.service("common-auth", COMMON_AUTH + "".join("auth\t%s\n" % l for l in auth))
    for name in ("login", "sshd", "sudo"):
        box.service(name, "@include common-auth\n@include common-account\n")
    code, found, report = box.rules()
    assert code == 0 and problems(found) == [], report
    assert report["services"] == ["common-auth", "login", "sshd", "sudo"]
    assert report["services_without_nullok"] == [] and report["users_without_token"] == []


# ---------------------------------------------------------------- PAM stack rules

@pytest.mark.parametrize("broken, fixed", [
    ("auth sufficient pam_emailotp.so pin=none", "auth required pam_emailotp.so pin=none"),
    ("auth optional pam_emailotp.so pin=none", "auth requisite pam_emailotp.so pin=none"),
    ("auth [success=ok default=ignore] pam_emailotp.so pin=none",
     "auth [success=ok default=die] pam_emailotp.so pin=none"),
    ("auth [success=ok auth_err=1 default=bad] pam_emailotp.so pin=none\nauth required pam_permit.so",
     "auth [success=ok auth_err=bad default=bad] pam_emailotp.so pin=none\nauth required pam_permit.so"),
])
def test_rule_failure_passes(box, broken, fixed):
    sshd_service(box, broken)
    code, found, report = box.rules()
    assert code == 1 and problems(found) == ["failure-passes"], report
    f = [f for f in report["findings"] if f["rule"] == "failure-passes"][0]
    assert f["file"] == str(box.pam / "sshd") and f["line"] == 2 and f["services"] == ["sshd"]
    sshd_service(box, fixed)
    code, found, report = box.rules()
    assert code == 0 and problems(found) == [], report


def test_rule_ignore_grants_without_factor(box):
    """groups= makes the module ignore non-members: with only pam_permit around it they get in
    with no factor; behind a password that is the intended policy."""
    box.service("svc", "auth required pam_emailotp.so groups=root,!nogroup-xyz\nauth required pam_permit.so\n")
    code, found, report = box.rules()
    assert code == 1 and problems(found) == ["ignore-grants-without-factor"], report
    assert ("groups-unknown", "note") in found
    assert {"service": "svc", "policy": "%s:1: asks members of root except members of nogroup-xyz; "
            "anyone else is ignored; pin=token, mode=interactive" % (box.pam / "svc")} in report["policies"]
    box.service("svc", "auth required pam_permit.so\nauth required pam_emailotp.so pin=none trusted_networks=192.0.2.0/24\n")
    code, found, report = box.rules()
    assert code == 1 and problems(found) == ["ignore-grants-without-factor"], report
    text = box.run(json_out=False).stdout
    assert "policy svc: %s:2: asks everyone; ignores logins from 192.0.2.0/24" % (box.pam / "svc") in text, text
    # fixed: a password first
    box.service("svc", "@include common-auth\nauth required pam_emailotp.so pin=none groups=root\n")
    code, found, report = box.rules()
    assert code == 0 and problems(found) == [], report
    # no other module grants: a note that those users cannot log in
    box.service("svc", "auth required pam_emailotp.so groups=root\n")
    code, found, report = box.rules()
    assert code == 0 and ("ignore-refuses", "note") in found, report


def test_rule_nullok_then_grant(box):
    box.service("svc", "auth required pam_emailotp.so nullok\nauth required pam_permit.so\n")
    code, found, report = box.rules()
    assert code == 1 and problems(found) == ["nullok-then-grant"], report
    assert "pam_permit.so at %s:2" % (box.pam / "svc") in report["findings"][0]["message"]
    box.service("svc", "auth required pam_emailotp.so nullok\nauth sufficient pam_sss.so\n")
    assert problems(box.rules()[1]) == ["nullok-then-grant"]
    # fixed: the first factor before, nothing granting after
    box.service("svc", "@include common-auth\nauth required pam_emailotp.so nullok\n")
    code, found, report = box.rules()
    assert code == 0 and problems(found) == [], report


def test_rule_success_skips_module(box):
    box.service("svc", "auth [success=2 default=ignore] pam_unix.so\nauth requisite pam_deny.so\n"
                       "auth required pam_emailotp.so pin=none\n")
    code, found, report = box.rules()
    assert code == 1 and problems(found) == ["success-skips-module"], report
    assert report["findings"][0]["line"] == 1
    # through an include: common-auth's own sufficient line ends the stack before the module
    box.write("pam.d/first", "auth sufficient pam_unix.so\n")
    box.service("svc", "auth include first\nauth required pam_emailotp.so pin=none\n")
    code, found, report = box.rules()
    assert problems(found) == ["success-skips-module"]
    assert report["findings"][0]["file"] == str(box.pam / "first")
    # fixed: success=1 lands on the module's side of pam_deny; a substack's sufficient ends only it
    box.service("svc", "auth [success=1 default=ignore] pam_unix.so\nauth requisite pam_deny.so\n"
                       "auth required pam_emailotp.so pin=none\n")
    assert box.rules()[0] == 0
    box.service("svc", "auth substack first\nauth required pam_emailotp.so pin=none\n")
    assert box.rules()[0] == 0


def test_rule_use_first_pass_without_password(box):
    box.service("svc", "auth required pam_emailotp.so use_first_pass\n")
    code, found, report = box.rules()
    assert code == 1 and problems(found) == ["use-first-pass-unset"], report
    box.service("svc", "@include common-auth\nauth required pam_emailotp.so use_first_pass\n")
    assert box.rules()[0] == 0


def test_rule_bad_argument(box):
    box.service("svc", "auth required pam_emailotp.so pin=sometimes\n")
    code, found, _ = box.rules()
    assert code == 1 and problems(found) == ["bad-argument"]
    box.service("svc", "auth required pam_emailotp.so pin=none\n")
    assert box.rules()[0] == 0


def test_rule_bad_control(box):
    box.service("svc", "auth mandatory pam_unix.so\nauth required pam_emailotp.so\n")
    code, found, _ = box.rules()
    assert code == 1 and problems(found) == ["bad-control"]
    box.service("svc", "auth required pam_unix.so\nauth required pam_emailotp.so\n")
    assert box.rules()[0] == 0


def test_rule_include_missing_and_loop(box):
    box.service("svc", "@include common-nothere\nauth required pam_emailotp.so\n")
    code, found, report = box.rules()
    assert code == 1 and problems(found) == ["include-missing"], report
    box.service("svc", "auth include svc\nauth required pam_emailotp.so\n")
    assert problems(box.rules()[1]) == ["include-loop"]
    # 300 files deep, no loop: a depth limit, named as one.
    for level in range(300):
        box.service("deep%d" % level, "auth include deep%d\n" % (level + 1))
    box.service("deep300", "auth required pam_unix.so\n")
    box.service("svc", "auth include deep0\nauth required pam_emailotp.so\n")
    code, found, report = box.rules()
    assert "include-depth" in problems(found) and "include-loop" not in problems(found), report
    for level in range(301):
        os.remove(os.path.join(str(box.pam), "deep%d" % level))
    box.service("svc", "@include common-auth\nauth required pam_emailotp.so\n")
    assert box.rules()[0] == 0


def test_note_rootok(box):
    box.service("su", "auth sufficient pam_rootok.so\n@include common-auth\nauth required pam_emailotp.so pin=none\n")
    code, found, _ = box.rules()
    assert code == 0 and ("rootok-skips", "note") in found


# ---------------------------------------------------------------- sshd_config rules

@pytest.mark.parametrize("broken, rule", [
    ("UsePAM no\nKbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n", "sshd-usepam"),
    ("KbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n", "sshd-usepam"),
    ("UsePAM yes\nKbdInteractiveAuthentication no\nAuthenticationMethods publickey,keyboard-interactive\n", "sshd-kbdinteractive"),
    ("UsePAM yes\nChallengeResponseAuthentication no\nAuthenticationMethods publickey,keyboard-interactive\n", "sshd-kbdinteractive"),
    ("UsePAM yes\nKbdInteractiveAuthentication yes\n", "sshd-authmethods"),
    ("UsePAM yes\nAuthenticationMethods publickey publickey,keyboard-interactive\n", "sshd-authmethods"),
    (GOOD_SSHD + "Match User deploy\n    AuthenticationMethods publickey\n", "sshd-authmethods"),
    (GOOD_SSHD + "Match Group admins\n    KbdInteractiveAuthentication no\n", "sshd-kbdinteractive"),
])
def test_sshd_rules(box, broken, rule):
    sshd_service(box)
    box.write("sshd_config", broken)
    code, found, report = box.rules()
    assert code == 1 and problems(found) == [rule], report
    box.write("sshd_config", GOOD_SSHD)
    code, found, report = box.rules()
    assert code == 0 and problems(found) == [], report


def test_sshd_include_is_followed(box):
    sshd_service(box)
    box.write("sshd_config", "Include %s/sshd_config.d/*.conf\n%s" % (box.root, GOOD_SSHD))
    box.write("sshd_config.d/50-cloud.conf", "KbdInteractiveAuthentication no\n")
    code, found, report = box.rules()
    assert code == 1 and problems(found) == ["sshd-kbdinteractive"], report
    assert report["findings"][0]["file"] == str(box.root / "sshd_config.d/50-cloud.conf")
    box.write("sshd_config.d/50-cloud.conf", "PasswordAuthentication no\n")
    assert box.rules()[0] == 0


def test_sshd_without_module_is_noted_not_checked(box):
    box.service("sshd", "@include common-auth\n")
    box.service("sudo", "@include common-auth\nauth required pam_emailotp.so pin=none\n")
    box.write("sshd_config", "UsePAM no\n")
    code, found, _ = box.rules()
    assert code == 0 and ("sshd-without-module", "note") in found


# ---------------------------------------------------------------- sudo

def test_sudo_timestamp(box):
    box.service("sudo", "@include common-auth\nauth required pam_emailotp.so pin=none\n")
    box.write("sudoers", "Defaults env_reset\n@includedir %s/sudoers.d\n" % box.root)
    box.write("sudoers.d/admins", "Defaults timestamp_timeout=-1\n")
    code, found, report = box.rules()
    assert code == 1 and problems(found) == ["sudo-timestamp"], report
    box.write("sudoers.d/admins", "Defaults timestamp_timeout=30\n%admins ALL=(ALL) NOPASSWD: ALL\n")
    code, found, report = box.rules()
    assert code == 0 and ("sudo-timestamp", "note") in found and ("sudo-no-authentication", "note") in found
    note = [f for f in report["findings"] if f["rule"] == "sudo-timestamp"][0]
    assert note["file"] == str(box.root / "sudoers.d/admins") and note["line"] == 1
    box.write("sudoers.d/admins", "Defaults timestamp_timeout=0\n")
    code, found, _ = box.rules()
    assert code == 0 and found == []


# ---------------------------------------------------------------- users without a token

def test_users_without_token_under_a_stack_without_nullok(box):
    box.site.enroll("alice", "alice@example.com")
    sshd_service(box)
    code, _, report = box.rules()
    assert code == 0
    assert report["services_without_nullok"] == ["sshd"]
    assert report["users_without_token"] == ["root", "bob"]
    text = box.run(json_out=False).stdout
    assert "2 local login user(s) have no token" in text, text
    sshd_service(box, "auth required pam_emailotp.so pin=none nullok")
    assert box.rules()[2]["users_without_token"] == []


# ---------------------------------------------------------------- exit status 2

def test_cannot_read_exits_2(box):
    p = box.run("--pam-dir", str(box.root / "nothere"))
    assert p.returncode == 2 and "nothere" in p.report["error"]
    os.unlink(box.sshd)
    sshd_service(box)
    p = box.run(json_out=False)
    assert p.returncode == 2 and "sshd_config does not exist" in p.stderr, p.stderr


def test_existing_config_checks_still_run(box):
    os.chmod(box.site.config, 0o666)
    p = box.run(json_out=False)
    assert p.returncode == 1 and "emailotp.conf" in p.stderr
    p = box.run()
    assert p.returncode == 1 and p.report["config"]["error"]


def test_address_command_untrusted(box):
    sshd_service(box)
    box.site.write_config(address_command="/tmp")     # /tmp is writable by everyone
    code, found, report = box.rules()
    assert code == 1 and problems(found) == ["address-command-untrusted"], report
    box.site.write_config(address_command="/bin/true")
    code, found, report = box.rules()
    assert code == 0 and problems(found) == [], report


def test_address_command_user(box):
    sshd_service(box)
    box.site.write_config(address_command="/bin/true", address_command_user="nobody")
    code, found, report = box.rules()
    assert code == 0 and ("address-command-user", "note") in found, report
    box.site.write_config(address_command="/bin/true", address_command_user="no-such-account")
    code, found, report = box.rules()
    assert code == 1 and problems(found) == ["address-command-user"], report
    box.site.write_config(address_command="/bin/true", address_command_user=None)   # the default, emailotp-lookup
    code, found, report = box.rules()
    assert code == 0 and "address-command-user" not in [r for r, _ in found], report


# ---------------------------------------------------------------- client time limits

def test_short_login_and_cockpit_time_limits_are_noted_when_their_services_use_the_module(box):
    module = "auth required pam_emailotp.so\n"
    box.service("login", "@include common-auth\n" + module)
    box.service("cockpit", module)
    defs = box.write("login.defs", "LOGIN_TIMEOUT\t\t60\n")
    conf = box.write("cockpit.conf", "[basic]\nresponse-timeout = 60\n")
    code, findings, report = box.rules("--login-defs", str(defs), "--cockpit-conf", str(conf))
    assert ("login-timeout", "note") in findings and ("cockpit-response-timeout", "note") in findings, findings
    text = box.run("--login-defs", str(defs), "--cockpit-conf", str(conf), json_out=False).stdout
    assert "LOGIN_TIMEOUT 60: login gives up before a slow mail arrives" in text, text
    box.write("login.defs", "LOGIN_TIMEOUT 300\n")
    box.write("cockpit.conf", "[basic]\nresponse-timeout = 300\n")
    code, findings, report = box.rules("--login-defs", str(defs), "--cockpit-conf", str(conf))
    assert not [r for r, s in findings if r in ("login-timeout", "cockpit-response-timeout")], findings
