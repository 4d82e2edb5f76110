"""The repo's pam.d examples: their contract (static), and the two stacks
that use the module alone (`emailotp`, `openvpn` in challenge mode) driven
through pamtester.

pamtester runs in a private mount namespace where a copy of /etc/pam.d
holding the example (with " config=<test site config>" appended to the
pam_emailotp.so line, the only substitution) is bind-mounted over /etc/pam.d:
/etc/pam.d/openvpn does not exist on the machine, and /etc/pam.d/emailotp is
the installed copy, not the repo's.
"""

import re
import secrets


import pytest

from lib.mail import extract_code, extract_txid

import svc
from svc import PIN

pytestmark = pytest.mark.services


def active(name):
    return [l.split("#")[0].split() for l in svc.read_example(name).splitlines()
            if l.strip() and not l.lstrip().startswith("#")]


# -- static contract ---------------------------------------------------------

def test_sshd_example_contract():
    text = svc.read_example("sshd")
    lines = active("sshd")
    for needed in ("UsePAM yes", "KbdInteractiveAuthentication yes",
                   "AuthenticationMethods publickey,keyboard-interactive"):
        assert re.search(r"(?m)^#\s+%s\s*$" % re.escape(needed), text), needed
    assert ["@include", "common-auth"] not in lines, "common-auth must be commented out"
    assert re.search(r"(?m)^#\s*@include common-auth$", text)
    assert svc.module_lines(text) == ["auth       required     pam_emailotp.so pin=none"]
    for needed in (["@include", "common-account"], ["@include", "common-session"],
                   ["@include", "common-password"], ["account", "required", "pam_nologin.so"]):
        assert needed in lines


def test_sudo_example_contract():
    lines = active("sudo")
    i = lines.index(["@include", "common-auth"])
    assert lines[i + 1] == ["auth", "required", "pam_emailotp.so", "pin=none"]
    assert ["@include", "common-account"] in lines


def test_su_example_contract():
    lines = active("su")
    assert lines[0] == ["auth", "sufficient", "pam_rootok.so"]
    i = lines.index(["@include", "common-auth"])
    assert lines[i + 1] == ["auth", "required", "pam_emailotp.so", "pin=none"]


def test_emailotp_and_openvpn_example_contract():
    assert active("emailotp") == [["auth", "required", "pam_emailotp.so"],
                                  ["account", "required", "pam_permit.so"]]
    assert active("openvpn") == [["auth", "required", "pam_emailotp.so", "mode=challenge"],
                                 ["account", "required", "pam_permit.so"]]


# -- pamtester ---------------------------------------------------------------

def pamtester(tmp_path, site, service, user):
    pamd = svc.pam_dir_with(tmp_path, {
        service: svc.with_config(svc.read_example(service), site.config)})
    return svc.ns_argv([(pamd, "/etc/pam.d")],
                       ["pamtester", "-v", service, user, "authenticate"])


def test_emailotp_example_with_pamtester(tmp_path, site, smtp, users, spawn):
    u = users.create()
    site.enroll(u.name, u.email, pin=PIN)
    c = spawn(pamtester(tmp_path, site, "emailotp", u.name))
    c.expect("PIN: ")
    c.sendline(PIN)
    # pamtester sets no PAM_TTY: an application without a terminal, so where the code went is
    # in the code prompt itself.
    c.expect(r"Code sent to \S+ \(valid 5 min\): ")
    mails = svc.mails_to(smtp, u.email)
    assert len(mails) == 1
    c.sendline(extract_code(mails[0]))
    c.expect("successfully authenticated")
    _, status = svc.finish(c)
    assert status == 0


def test_openvpn_challenge_example_two_steps(tmp_path, site, smtp, spawn):
    # VPN users need not be Unix accounts (the example says so): no useradd
    name = "eotp_vpn_" + secrets.token_hex(4)
    email = name + "@example.org"
    site.enroll(name, email, pin=PIN)
    argv = pamtester(tmp_path, site, "openvpn", name)

    # step 1: the PIN alone -> denied, mail sent, transaction id shown
    c = spawn(argv)
    c.expect("PIN: ")
    c.sendline(PIN)
    c.expect(r"Transaction id: (\d{20})\.")
    shown_txid = c.match.group(1)
    c.expect("Authentication failure")
    _, status = svc.finish(c)
    assert status != 0
    mails = svc.mails_to(smtp, email)
    assert len(mails) == 1
    assert extract_txid(mails[0]) == shown_txid
    code = extract_code(mails[0])

    # a wrong code is refused
    c = spawn(argv)
    c.expect("PIN: ")
    c.sendline(PIN + svc.wrong_code(code))
    i = c.expect(["successfully authenticated", "Authentication failure"])
    assert i == 1
    svc.finish(c)

    # step 2: PIN followed by the code -> granted, without another mail
    c = spawn(argv)
    c.expect("PIN: ")
    c.sendline(PIN + code)
    c.expect("successfully authenticated")
    _, status = svc.finish(c)
    assert status == 0
    assert smtp.count() == 1
