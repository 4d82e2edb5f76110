"""login(1) (shadow 4.13) on a pty with Debian's /etc/pam.d/login and the module line added after
`@include common-auth` (pin=none: the Unix password is the first factor), as docs/clients.md
says: password, then where the code went and the code prompt, then the user's shell."""

import re

import pexpect
import pytest

from clientsupport import staged_module_line, with_system_security_files
from lib.mail import extract_code

PASSWORD = "Pw-unix-login-1"


@pytest.fixture
def login(site, staged, pam_dir, namespace, accounts):
    user = accounts.user(password=PASSWORD)
    site.enroll(user, user + "@example.org", pin=None)
    with_system_security_files(site)
    text = open("/etc/pam.d/login").read()
    assert text.count("\n@include common-auth\n") == 1
    text = text.replace("\n@include common-auth\n",
                        "\n@include common-auth\n%s\n" % staged_module_line(staged, "pin=none"))
    return namespace(pam_dir(login=text)), user


def test_password_then_mailed_code_on_a_pty_opens_the_shell(login, site, smtp):
    ns, user = login
    child = pexpect.spawn(ns.argv(["/bin/login", user])[0], ns.argv(["/bin/login", user])[1:],
                          encoding="utf-8", timeout=60, env={"TERM": "dumb", "PATH": "/usr/bin:/bin"})
    try:
        child.expect("Password: ")
        child.sendline(PASSWORD)
        child.expect(re.compile(r"(Email code: |Code sent to \S+ \(valid [^)]*\): )"))
        seen = child.before + child.after
        assert re.search(r"\w\*\*\*@\w\*+\.org", seen), seen
        assert smtp.count() == 1
        child.sendline(extract_code(smtp.last()))
        child.expect(r"\$ ")
        child.sendline("echo LOGIN-$((6*7)); exit")
        child.expect("LOGIN-42")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert site.read_record(user)["fail_count"] == "0"
