"""Enrolment at the first login, end to end: real sshd (keyboard-interactive) and sudo, the
address from a real directory (Debian's slapd, started by the test on a free loopback port
with its own config and database) through an address_command that runs ldapsearch, and a
pending enrolment made by root.

The code always goes to the directory's (or root's) address, whatever the person logging in
types; a wrong code enrols nothing and is counted; a user absent from the directory gets the
behaviour of a user without a token.
"""

import json
import os
import pathlib
import shutil
import tempfile

import pexpect
import pytest

from lib.mail import extract_code
from lib.slapd import Slapd

import svc
from test_sudo import ROOT_OUTPUT, sudo_argv

pytestmark = pytest.mark.services

MARKER = "OK-42"
NEW_PIN = "attacker@evil.example"   # a PIN that looks like an address: it must never get mail
CODE_PROMPT = r"(Email code: |Code sent to \S+ \(valid \d+ min\): )"


@pytest.fixture
def ldap(tmp_path):
    with Slapd(tmp_path / "ldap") as server:
        yield server


@pytest.fixture
def bin_dir():
    """address_command must sit in a root-owned directory no one else can write: under /run."""
    d = tempfile.mkdtemp(prefix="emailotp-enrol-", dir="/run")
    os.chmod(d, 0o755)
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def directory(site, ldap, bin_dir):
    """enroll_at_login with addresses from the directory."""
    cmd = bin_dir / "ldap-mail"
    cmd.write_text(ldap.address_command_script())
    os.chown(cmd, 0, 0)
    os.chmod(cmd, 0o755)
    site.write_config(address_command=cmd, enroll_at_login="yes")
    return ldap


def show(site, user):
    p = site.cli("show", user, "--json")
    return json.loads(p.stdout) if p.returncode == 0 else None


def pin_token_sshd(site):
    text = svc.substitute(svc.read_example("sshd"), ("pam_emailotp.so pin=none", "pam_emailotp.so pin=token"))
    return svc.with_config(text, site.config)


def enrol_over_ssh(c, smtp, address, code_of=extract_code):
    """The enrolment dialogue: the new PIN twice, then the mailed code."""
    c.expect("Setting up email codes")
    c.expect("New PIN: ")
    c.sendline(NEW_PIN)
    c.expect("Repeat the new PIN: ")
    c.sendline(NEW_PIN)
    c.expect("Email code: ")
    mails = svc.mails_to(smtp, address)
    assert len(mails) == 1, [m["To"] for m in smtp.messages()]
    return code_of(mails[0])


def test_sshd_first_login_enrols_with_the_directory_address(site, smtp, users, directory, sshd_factory, spawn):
    u = users.create()
    address = "%s.mailbox@directory.test" % u.name
    directory.add_person(u.name, address)
    assert show(site, u.name) is None
    sshd = sshd_factory(pin_token_sshd(site), u, "keyboard-interactive")

    c = spawn(sshd.client_argv(u.name, "keyboard-interactive"))
    code = enrol_over_ssh(c, smtp, address)
    c.sendline(code)
    c.expect(MARKER)
    assert svc.finish(c)[1] == 0
    assert "Accepted keyboard-interactive/pam for %s" % u.name in sshd.log_text()

    # Every mail (the code, then the enrolled alert) went to the directory's address only.
    rcpts = [r for e in smtp.envelopes() for r in e["rcpt_tos"]]
    assert rcpts == [address, address], rcpts
    assert smtp.messages()[-1]["X-EmailOTP-Alert"] == "enrolled"
    info = show(site, u.name)
    assert info["state"] == "enabled" and info["fail_count"] == 0
    assert site.read_record(u.name)["email"] == "-", "the directory stays the source of the address"

    # The next login is an ordinary one with the PIN chosen.
    c = spawn(sshd.client_argv(u.name, "keyboard-interactive"))
    c.expect("PIN: ")
    c.sendline(NEW_PIN)
    c.expect("Email code: ")
    c.sendline(extract_code(svc.mails_to(smtp, address)[-1]))
    c.expect(MARKER)
    assert svc.finish(c)[1] == 0


def test_sshd_wrong_code_enrols_nothing_and_is_counted(site, smtp, users, directory, sshd_factory, spawn):
    site.write_config(otp_tries=1)
    u = users.create()
    address = "%s@directory.test" % u.name
    directory.add_person(u.name, address)
    sshd = sshd_factory(pin_token_sshd(site), u, "keyboard-interactive")

    c = spawn(sshd.client_argv(u.name, "keyboard-interactive"))
    code = enrol_over_ssh(c, smtp, address)
    c.sendline(svc.wrong_code(code))
    # sshd drops the last message of a failed keyboard-interactive round: the refusal is enough.
    i = c.expect(["Wrong code", MARKER, pexpect.EOF])
    assert i != 1, "a wrong code let the login in"
    c.close(force=True)
    assert "Failed keyboard-interactive/pam for %s" % u.name in sshd.log_text()
    info = show(site, u.name)
    assert info["state"] == "pending", info
    assert info["fail_count"] == 1
    assert site.read_record(u.name)["pin"] == "-"
    assert [m for m in smtp.messages() if m.get("X-EmailOTP-Alert") == "enrolled"] == []


def test_sshd_user_absent_from_the_directory_gets_todays_behaviour(site, smtp, users, directory, sshd_factory, spawn):
    u = users.create()
    sshd = sshd_factory(pin_token_sshd(site), u, "keyboard-interactive")
    c = spawn(sshd.client_argv(u.name, "keyboard-interactive"))
    c.expect("PIN: ")
    c.sendline("some-PIN")
    i = c.expect(["PIN: ", "Email code: ", "New PIN", pexpect.EOF])
    assert i in (0, 3), c.seen()
    c.close(force=True)
    assert smtp.count() == 0
    assert show(site, u.name) is None, "no record for a user the directory does not know"
    assert "Setting up email codes" not in c.seen()


def sudo_variant(tmp_path, site, variant, user):
    return sudo_argv(tmp_path, site, variant, user)


def test_sudo_pending_enrolment_made_by_root(tmp_path, site, smtp, users, spawn):
    """pin=none (the repo's example: Unix password, then the code), through sudo's clean process."""
    u = users.create()
    p = site.cli("enroll", u.name, "--email", u.email, "--pending")
    assert p.returncode == 0, p.stderr
    assert "pending" in site.cli("list", check=True).stdout
    assert show(site, u.name)["state"] == "pending"

    c = spawn(sudo_variant(tmp_path, site, "example", u))
    c.expect(r"\[sudo\] password for %s: " % u.name)
    c.sendline(u.password)
    c.expect(CODE_PROMPT)
    assert "New PIN" not in c.seen(), "pin=none asks no PIN"
    mails = svc.mails_to(smtp, u.email)
    assert len(mails) == 1
    c.sendline(extract_code(mails[0]))
    c.expect(ROOT_OUTPUT)
    assert svc.finish(c)[1] == 0
    info = show(site, u.name)
    assert info["state"] == "enabled"
    assert site.read_record(u.name)["pin"] == "-"


def test_sudo_first_login_from_the_directory_with_a_pin(tmp_path, site, smtp, users, directory, spawn):
    """pin=token (the documented variant), through sudo's clean process and the helper."""
    u = users.create()
    address = "%s@directory.test" % u.name
    directory.add_person(u.name, address)
    c = spawn(sudo_variant(tmp_path, site, "token", u))
    c.expect("New PIN: ")
    c.sendline(NEW_PIN)
    c.expect("Repeat the new PIN: ")
    c.sendline(NEW_PIN)
    c.expect(CODE_PROMPT)
    mails = svc.mails_to(smtp, address)
    assert len(mails) == 1 and smtp.count() == 1
    c.sendline(extract_code(mails[0]))
    c.expect(ROOT_OUTPUT)
    assert svc.finish(c)[1] == 0
    assert show(site, u.name)["state"] == "enabled"
    assert all(r == address for e in smtp.envelopes() for r in e["rcpt_tos"])

    # The next sudo asks the PIN chosen.
    c = spawn(sudo_variant(tmp_path, site, "token", u))
    c.expect("PIN: ")
    c.sendline(NEW_PIN)
    c.expect(CODE_PROMPT)
    c.sendline(extract_code(svc.mails_to(smtp, address)[-1]))
    c.expect(ROOT_OUTPUT)
    assert svc.finish(c)[1] == 0


def sudo_nullok_argv(tmp_path, site, user):
    """The repo's sudo example (Unix password, then pam_emailotp pin=none) with nullok."""
    text = svc.substitute(svc.read_example("sudo"), ("pam_emailotp.so pin=none", "pam_emailotp.so pin=none nullok"))
    pam = svc.write_file(tmp_path / "pam.sudo.nullok", svc.with_config(text, site.config))
    argv = sudo_argv(tmp_path, site, "example", user)
    argv[argv.index(str(tmp_path / "pam.sudo"))] = str(pam)
    return argv


def test_sudo_nullok_does_not_skip_the_enrolment_of_a_directory_user(tmp_path, site, smtp, users, directory, spawn):
    """nullok answers in sudo's own process only for users without a token; under
    enroll_at_login the directory must be asked first, so a directory user is enrolled."""
    u = users.create()
    address = "%s@directory.test" % u.name
    directory.add_person(u.name, address)
    c = spawn(sudo_nullok_argv(tmp_path, site, u))
    c.expect(r"\[sudo\] password for %s: " % u.name)
    c.sendline(u.password)
    c.expect(CODE_PROMPT)
    mails = svc.mails_to(smtp, address)
    assert len(mails) == 1
    c.sendline(extract_code(mails[0]))
    c.expect(ROOT_OUTPUT)
    assert svc.finish(c)[1] == 0
    assert show(site, u.name)["state"] == "enabled"


def test_sudo_nullok_user_absent_from_the_directory_passes_as_today(tmp_path, site, smtp, users, directory, spawn):
    """enroll_at_login keeps the module from answering nullok in sudo's process (the directory
    must be asked), so the clean process decides: a user the directory does not know has no
    token and is let through by nullok after the Unix password, as without enroll_at_login."""
    u = users.create()
    c = spawn(sudo_nullok_argv(tmp_path, site, u))
    c.expect(r"\[sudo\] password for %s: " % u.name)
    c.sendline(u.password)
    c.expect(ROOT_OUTPUT)
    assert svc.finish(c)[1] == 0
    assert smtp.count() == 0
    assert show(site, u.name) is None
    assert "Setting up email codes" not in c.seen()
