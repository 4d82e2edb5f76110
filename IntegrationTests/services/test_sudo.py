"""sudo (Debian's sudo) with pam_emailotp, end to end; the same tests with Debian 13's sudo-rs
(the Rust sudo, `sudo-rs`, PAM service "sudo" as well) where it is installed: the package cycle
in a Debian 13 root runs them (IntegrationTests/package/test_package_cycle.py).

Everything runs in a private mount namespace where the PAM file is
bind-mounted over /etc/pam.d/sudo and a test sudoers file over /etc/sudoers
(the machine's files are never changed).  The test user runs sudo on a pty:
`su --pty USER -c 'sudo ...'` (without --pty su drops the controlling tty and
sudo could not prompt).

PAM files: the repo's pam.d-examples/sudo with " config=<test site config>"
appended to the pam_emailotp.so line; for the token variant also the edit the
example documents ("comment out @include common-auth and change pin=none to
pin=token").

The test sudoers: the user may run anything as root; timestamp_timeout=0 (no
cached authentication between the runs of one test), lecture=never, and
passwd_tries=1 so that one sudo run is one PAM transaction (sudo-rs takes the same file;
its `lecture` is a flag: `!lecture`).
"""


import shutil

import pexpect
import pytest

from lib.mail import extract_code

import svc
from svc import PIN

pytestmark = pytest.mark.services

COMMAND = "%s /bin/sh -c 'echo sudo-uid-$(id -u)'"
ROOT_OUTPUT = "sudo-uid-0"
# sudo passes PAM_SILENT: where the code went is in the code prompt, no separate message.
CODE_PROMPT = r"Code sent to (\S+) \(valid \d+ min\): "
# The password prompt of each: sudo's own, sudo-rs's "[sudo: authenticate] Password: ".
PASSWORD_PROMPT = {"sudo": r"\[sudo\] password for %s: ", "sudo-rs": r"\[sudo: authenticate\] Password: "}
LECTURE = {"sudo": "Defaults lecture=never", "sudo-rs": "Defaults !lecture"}


@pytest.fixture(params=["sudo", "sudo-rs"])
def sudo(request):
    if not shutil.which(request.param):
        pytest.skip("%s is not installed (Debian 13's sudo-rs: the package cycle in a Debian 13 root runs it)"
                    % request.param)
    return request.param


def sudo_pam(site, variant):
    text = svc.read_example("sudo")
    if variant == "token":
        text = svc.substitute(text,
                              ("\n@include common-auth\n", "\n# @include common-auth\n"),
                              ("pam_emailotp.so pin=none", "pam_emailotp.so pin=token"))
    return svc.with_config(text, site.config)


def sudo_argv(tmp_path, site, variant, user, sudo="sudo"):
    pam = svc.write_file(tmp_path / "pam.sudo", sudo_pam(site, variant))
    sudoers = svc.write_file(tmp_path / "sudoers", "\n".join([
        "Defaults env_reset",
        'Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"',
        "Defaults timestamp_timeout=0",
        LECTURE[sudo],
        "Defaults passwd_tries=1",
        "root ALL=(ALL:ALL) ALL",
        "%s ALL=(ALL:ALL) ALL" % user.name,
        ""]), 0o440)
    return svc.ns_argv([(pam, "/etc/pam.d/sudo"), (sudoers, "/etc/sudoers")],
                       ["su", "--pty", user.name, "-c", COMMAND % sudo])


def first_factor(c, variant, user, sudo="sudo"):
    if variant == "example":
        c.expect(PASSWORD_PROMPT[sudo].replace("%s", user.name))
        c.sendline(user.password)
    else:
        c.expect("PIN: ")
        c.sendline(PIN)


@pytest.fixture
def setup(tmp_path, site, users):
    user = users.create()
    site.enroll(user.name, user.email, pin=PIN)
    # root has a token too, with another address: the code must not go there
    site.enroll("root", "root-target@example.org", pin=PIN)
    return user


@pytest.mark.parametrize("variant", ["example", "token"])
def test_sudo_password_or_pin_then_code(variant, sudo, tmp_path, site, smtp, setup, spawn):
    user = setup
    c = spawn(sudo_argv(tmp_path, site, variant, user, sudo))
    first_factor(c, variant, user, sudo)
    c.expect(CODE_PROMPT)
    assert c.match.group(1) == svc.masked(user.email)
    assert "A code was sent" not in c.seen()
    mails = svc.mails_to(smtp, user.email)
    assert len(mails) == 1 and smtp.count() == 1, "the code goes to the invoking user"
    assert smtp.envelopes()[0]["rcpt_tos"] == [user.email]
    c.sendline(extract_code(mails[0]))
    c.expect(ROOT_OUTPUT)
    _, status = svc.finish(c)
    assert status == 0


@pytest.mark.parametrize("variant", ["example", "token"])
def test_sudo_wrong_code_refused(variant, sudo, tmp_path, site, smtp, setup, spawn):
    otp_tries = 3
    site.write_config(otp_tries=otp_tries)
    user = setup
    c = spawn(sudo_argv(tmp_path, site, variant, user, sudo))
    first_factor(c, variant, user, sudo)
    codes = 0
    while True:
        i = c.expect([CODE_PROMPT, "PIN: ", r"password for|Password: ", pexpect.EOF])
        if i == 0:
            codes += 1
            mails = svc.mails_to(smtp, user.email)
            assert mails
            c.sendline(svc.wrong_code(extract_code(mails[-1])))
        elif i in (1, 2):
            raise AssertionError("first factor asked again in one sudo run")
        else:
            break
    _, status = svc.finish(c)
    assert status != 0
    assert ROOT_OUTPUT not in c.seen()
    assert codes == otp_tries
    assert len(svc.mails_to(smtp, user.email)) == 1 and smtp.count() == 1
