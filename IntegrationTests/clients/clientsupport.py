"""What the real-client tests import (a module of its own: `from conftest import` would find
services/conftest.py when the whole suite runs)."""

import os
import pathlib
import re
import secrets

HERE = pathlib.Path(__file__).resolve().parent
PIN = "s3cret-PIN"


def service_line(staged, args="", mode="challenge"):
    return "auth required %s mode=%s helper=%s %s\naccount required pam_permit.so\n" % (
        staged["module"], mode, staged["helper"], args)


EXAMPLES = HERE.parents[1] / "pam.d-examples"
MODULE_LINE = re.compile(r"^(\s*auth\s+\S+\s+)pam_emailotp\.so\b(.*)$", re.M)


def example_service(name, staged, mode=None):
    """The repo's pam.d-examples/NAME with the staged module and helper (the
    only substitution: what is in the example is what is tested)."""
    text = (EXAMPLES / name).read_text()

    def line(m):
        args = m.group(2)
        if mode is not None:
            assert "mode=challenge" in args
            args = args.replace("mode=challenge", "mode=" + mode)
        return "%s%s%s helper=%s" % (m.group(1), staged["module"], args, staged["helper"])
    text, n = MODULE_LINE.subn(line, text)
    assert n == 1, "expected one active pam_emailotp.so line in pam.d-examples/%s" % name
    return text


def token_user():
    """A token name that is no Unix account (challenge mode looks tokens up by name)."""
    return "eoc-t" + secrets.token_hex(3)


def with_system_security_files(site):
    """Copies /etc/security's other files (limits.conf, pam_env.conf, ...) into the site's
    directory, which replaces /etc/security in the namespaces: the full stacks of login
    services (Cockpit, vsftpd, login) read them."""
    import shutil
    for name in os.listdir("/etc/security"):
        source, target = os.path.join("/etc/security", name), os.path.join(str(site.dir), name)
        if name == "emailotp.conf" or os.path.lexists(target):
            continue
        if os.path.isdir(source):
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target)


def staged_module_line(staged, args=""):
    """One `auth required` line for the staged module, for stacks built from the system's files."""
    return "auth       required   %s %s" % (staged["module"], args)
