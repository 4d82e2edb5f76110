"""Clients that cannot prompt or must keep a command's output clean: ssh from a job without a
terminal (cron, CI, a systemd unit), sudo -S fed by a script, sudo -A with an askpass program.
Every run starts a new session without a controlling terminal and with no standard input
beyond what the test writes.

sshd uses the repo's pam.d-examples/sshd (key, then code; pin=none), sudo the repo's
pam.d-examples/sudo (Unix password, then code), each in a private mount namespace (svc.py).
"""

import json
import os
import subprocess
import time

import pytest

from lib.mail import extract_code

import svc

pytestmark = pytest.mark.services

COMMAND = ["/bin/sh", "-c", "echo sudo-uid-$(id -u)"]
ROOT_OUTPUT = "sudo-uid-0\n"


def show(site, user):
    return json.loads(site.cli("show", user, "--json", check=True).stdout)


def no_terminal(argv, **kw):
    """Runs argv in a new session (no controlling terminal), standard input /dev/null."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, start_new_session=True, **kw)


def wait_mails(smtp, count, seconds=60):
    deadline = time.monotonic() + seconds
    while smtp.count() < count:
        assert time.monotonic() < deadline, "no mail within %d s" % seconds
        time.sleep(0.05)


@pytest.fixture
def ssh_key_user(site, users, sshd_factory, tmp_path):
    """(sshd with the repo's example, the user, the user's key)"""
    u = users.create()
    site.enroll(u.name, u.email, pin=None)
    sshd = sshd_factory(svc.with_config(svc.read_example("sshd"), site.config), u,
                        "publickey,keyboard-interactive")
    return sshd, u, svc.install_key(tmp_path, u)


def test_ssh_from_a_job_without_a_terminal_counts_nothing_and_locks_nothing(ssh_key_user, site, smtp):
    sshd, u, key = ssh_key_user
    for run in range(3):
        before = smtp.count()
        p = no_terminal(sshd.client_argv(u.name, "publickey,keyboard-interactive", identity=key, prompts=3))
        assert p.returncode == 255 and "OK-42" not in p.stdout, p
        info = show(site, u.name)
        assert info["fail_count"] == 0 and not info["locked"], "run %d: %s" % (run + 1, info)
        assert smtp.count() - before <= 1, "run %d mailed %d codes" % (run + 1, smtp.count() - before)


def test_ssh_with_batchmode_sends_no_mail_and_counts_no_failure(ssh_key_user, site, smtp):
    sshd, u, key = ssh_key_user
    argv = [a.replace("BatchMode=no", "BatchMode=yes")
            for a in sshd.client_argv(u.name, "publickey,keyboard-interactive", identity=key)]
    p = no_terminal(argv)
    assert p.returncode == 255 and "OK-42" not in p.stdout, p
    assert smtp.count() == 0
    assert show(site, u.name)["fail_count"] == 0


@pytest.fixture
def sudo(site, users, tmp_path):
    """(argv prefix that runs a command as the user with the example's sudo stack, the user)"""
    u = users.create()
    site.enroll(u.name, u.email, pin=None)
    pam = svc.write_file(tmp_path / "pam.sudo", svc.with_config(svc.read_example("sudo"), site.config))
    sudoers = svc.write_file(tmp_path / "sudoers", "\n".join([
        "Defaults env_reset", "Defaults timestamp_timeout=0", "Defaults lecture=never",
        "Defaults passwd_tries=1", 'Defaults env_keep += "SUDO_ASKPASS"',
        "root ALL=(ALL:ALL) ALL", "%s ALL=(ALL:ALL) ALL" % u.name, ""]), 0o440)

    def argv(*sudo_args):
        return svc.ns_argv([(pam, "/etc/pam.d/sudo"), (sudoers, "/etc/sudoers")],
                           ["setpriv", "--reuid", u.name, "--regid", u.name, "--init-groups", "--",
                            "env", "-i", "PATH=/usr/bin:/bin", "LANG=C"] + list(sudo_args))
    return argv, u


def sudo_stdin(argv, smtp, first, second):
    """sudo -S fed line by line as a script does: `first`, then once the mail is there
    second(code)."""
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    p.stdin.write(first + "\n")
    p.stdin.flush()
    wait_mails(smtp, 1)
    try:
        p.stdin.write(second(extract_code(smtp.last())) + "\n")
        p.stdin.close()
    except BrokenPipeError:
        pass
    out, err = p.stdout.read(), p.stderr.read()
    return p.wait(60), out, err


def test_sudo_S_from_a_script_keeps_the_commands_output_clean(sudo, smtp):
    argv, u = sudo
    status, out, err = sudo_stdin(argv("sudo", "-S", *COMMAND), smtp, u.password, lambda code: code)
    assert status == 0, err
    assert out == ROOT_OUTPUT, "stdout: %r" % out
    assert svc.masked(u.email) in err, "the code prompt (stderr) says where the code went: %r" % err


def test_sudo_S_fed_the_password_twice_is_told_to_send_the_code(sudo, site, smtp):
    argv, u = sudo
    status, out, err = sudo_stdin(argv("sudo", "-S", *COMMAND), smtp, u.password, lambda code: u.password)
    assert status != 0 and "sudo-uid" not in out
    assert "mode=challenge" not in err + out, err
    assert "code from the mail" in err, err
    assert show(site, u.name)["fail_count"] == 0


ASKPASS = r'''#!/usr/bin/python3
import os, sys
with open(os.environ["EOC_ASKPASS_LOG"], "a") as log:
    log.write(sys.argv[1] + "\n")
with open(os.environ["EOC_ASKPASS_FIFO"]) as answers:
    sys.stdout.write(answers.readline())
'''


def test_sudo_A_askpass_sees_the_address_in_the_code_prompt(sudo, smtp, tmp_path):
    argv, u = sudo
    askpass = svc.write_file(tmp_path / "askpass", ASKPASS, 0o755)
    log, fifo = tmp_path / "askpass.log", tmp_path / "askpass.fifo"
    os.mkfifo(fifo, 0o666)
    log.write_text("")
    os.chmod(log, 0o666)
    env = ["SUDO_ASKPASS=%s" % askpass, "EOC_ASKPASS_LOG=%s" % log, "EOC_ASKPASS_FIFO=%s" % fifo]
    p = subprocess.Popen(argv("env", *env, "sudo", "-A", *COMMAND), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    with open(fifo, "w") as answer:
        answer.write(u.password + "\n")
    wait_mails(smtp, 1)
    with open(fifo, "w") as answer:
        answer.write(extract_code(smtp.last()) + "\n")
    out, err = p.communicate(timeout=60)
    prompts = log.read_text().splitlines()
    assert p.returncode == 0, err
    assert out == ROOT_OUTPUT, "stdout: %r" % out
    assert len(prompts) == 2 and svc.masked(u.email) in prompts[1], prompts
