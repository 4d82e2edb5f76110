"""emailotp in swift-argument-parser's idiom: every verb is a subcommand with help on every
argument and option, enum options refuse other values as usage errors (exit 64), and
--config/--store stand before or after the verb without rewriting argv."""

import re
import subprocess

import pytest

from lib.env import ALICE, EMAILOTP

VERBS = {
    "enroll": ["<user>", "--email", "--address-from-command", "--pin-stdin", "--no-pin", "--verify", "--pending", "--from",
               "--group"],
    "list": ["--json"],
    "show": ["<user>", "--json"],
    "set-pin": ["<user>", "--pin-stdin"],
    "set-email": ["<user>", "<address>"],
    "disable": ["<user>"],
    "enable": ["<user>"],
    "reset": ["<user>"],
    "delete": ["<user>"],
    "challenges": ["<user>"],
    "purge": [],
    "check": ["<user>", "--transaction-id", "--pin", "--json"],
    "send-test": ["<address>"],
    "config-check": ["--json"],
    "demo": ["--module", "--keep"],
    "store-init": [],
    "migrate": [],
    "recovery-codes": ["<user>", "--count"],
    "forget": ["<user>"],
    "status": ["<user>"],
    "metrics": [],
}


def run(*args, input=""):
    return subprocess.run([EMAILOTP, *map(str, args)], input=input, capture_output=True, text=True, timeout=60)


def help_entries(text):
    """Argument or option name -> its help text, from the ARGUMENTS and OPTIONS sections."""
    entries = {}
    name = None
    for line in text.splitlines():
        m = re.match(r"^  (\S.*?)(?:\s{2,}(\S.*))?$", line)
        if m and (m.group(1).startswith("-") or m.group(1).startswith("<")):
            name = m.group(1).split()[0].rstrip(",")
            if name == "-h":
                name = "--help"
            entries[name] = m.group(2) or ""
        elif name and line.startswith("    ") and line.strip():
            entries[name] = (entries[name] + " " + line.strip()).strip()
    return entries


def test_root_help_lists_every_verb_with_its_abstract():
    p = run("--help")
    assert p.returncode == 0, p.stderr
    assert "USAGE: emailotp [--config <path>] [--store <dir|uri>] <subcommand>" in p.stdout
    listed = dict(re.findall(r"^  ([a-z-]+)\s{2,}(\S.*)$", p.stdout.split("SUBCOMMANDS:")[1], re.M))
    assert set(listed) == set(VERBS), set(listed) ^ set(VERBS)
    assert all(listed.values()), listed


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_argument_and_option_of_a_verb_has_help(verb):
    p = run(verb, "--help")
    assert p.returncode == 0, p.stderr
    entries = help_entries(p.stdout)
    # demo builds its own configuration and store in a temporary directory.
    shared = ["--help"] if verb == "demo" else ["--config", "--store", "--help"]
    for name in shared + VERBS[verb]:
        assert name in entries, f"emailotp {verb} --help does not list {name}:\n{p.stdout}"
    for name, text in entries.items():
        assert text, f"emailotp {verb} --help: {name} has no help text:\n{p.stdout}"


def test_pin_mode_outside_the_enum_is_a_usage_error(site):
    p = site.cli("check", ALICE, "--pin", "foo", input="")
    assert p.returncode == 64, (p.returncode, p.stderr)
    assert "'foo' is invalid for '--pin <token|none>'" in p.stderr
    assert "token" in p.stderr and "none" in p.stderr


@pytest.mark.parametrize("form", ["before", "after", "equals", "split"])
def test_config_and_store_before_or_after_the_verb(site, smtp, alice, form):
    config, store = str(site.config), str(site.store)
    argv = {
        "before": ["--config", config, "--store", store, "list"],
        "after": ["list", "--config", config, "--store", store],
        "equals": ["--config=" + config, "list", "--store=" + store],
        "split": ["--store", store, "list", "--config", config],
    }[form]
    p = run(*argv)
    assert p.returncode == 0, (argv, p.stderr)
    assert ALICE in p.stdout


def test_version_is_the_release():
    p = run("--version")
    assert p.returncode == 0, p.stderr
    assert re.fullmatch(r"emailotp \d+\.\d+\.\d+\n", p.stdout), p.stdout


@pytest.mark.parametrize("args", [["demo", "--store", "/tmp/elsewhere"], ["--store", "/tmp/elsewhere", "demo"],
                                  ["demo", "--config", "/etc/security/emailotp.conf"]])
def test_demo_refuses_config_and_store_it_cannot_honour(args):
    p = run(*args)
    assert p.returncode == 64, (p.returncode, p.stdout, p.stderr)
    assert "do not apply" in p.stderr, p.stderr
    assert "PAM login" not in p.stdout, p.stdout


def test_an_empty_argv_is_no_arguments_not_a_crash():
    """execve(2) with argc 0 (possible, and what some wrappers do): emailotp ends as it does
    without arguments (the overview of the verbs, its exit code), never by a signal."""
    import ctypes
    import os
    pid = os.fork()
    if pid == 0:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            empty = (ctypes.c_char_p * 1)(None)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            libc.execve(EMAILOTP.encode(), empty, empty)
        finally:
            os._exit(127)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), "emailotp ended by signal %d" % os.WTERMSIG(status)
    assert os.WEXITSTATUS(status) == run().returncode
