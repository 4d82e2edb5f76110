"""Bulk enrolment with the installed `emailotp`: `enroll --from FILE|-` and `--group NAME`,
pending or active. The whole list is checked before anything is written; a re-run changes
nothing; a bad line is named by its number (exit 65) and nobody is enrolled."""

import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

from lib.flows import CodeAnswerer

BULK = 500


def users_file(tmp_path, lines, name="users.txt"):
    p = tmp_path / name
    p.write_text("".join(line + "\n" for line in lines))
    return p


def people(n):
    return ["# staff list", ""] + ["u%04d u%04d@corp.example" % (i, i) for i in range(n)]


def test_500_users_from_a_file_then_a_rerun_changes_nothing(site, tmp_path):
    listing = users_file(tmp_path, people(BULK))
    p = site.cli("enroll", "--from", listing, "--pending")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == BULK + 1, "a line per user and a summary"
    assert lines[0] == "u0000: pending enrolment, codes to u0000@corp.example"
    assert lines[-1] == "%d enrolled, 0 unchanged, 0 with another address" % BULK
    assert site.read_record("u0499")["state"] == "pending"
    table = site.cli("list", check=True).stdout.splitlines()
    assert sum(1 for row in table if " pending " in row) == BULK

    before = site.snapshot()
    again = site.cli("enroll", "--from", listing, "--pending")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == "0 enrolled, %d unchanged, 0 with another address" % BULK
    assert "u0007: already enrolled with this address, unchanged" in again.stdout
    assert site.snapshot() == before, "a re-run wrote nothing"


def test_a_malformed_line_is_named_and_nobody_is_enrolled(site, tmp_path):
    lines = people(BULK)
    lines[251] = "u9999 not-an-address"          # line 252 of the file
    listing = users_file(tmp_path, lines)
    p = site.cli("enroll", "--from", listing, "--pending")
    assert p.returncode == 65, (p.returncode, p.stderr)
    assert "line 252" in p.stderr and "not a plain mail address" in p.stderr, p.stderr
    assert "nobody was enrolled" in p.stderr
    assert p.stdout == ""
    assert site.cli("list", check=True).stdout.splitlines()[1:] == [], "nobody enrolled"


def test_another_address_is_reported_and_left_as_it_is(site, tmp_path):
    site.enroll("alice", "alice@old.example", pin=None)
    p = site.cli("enroll", "--from", "-", "--no-pin", input="alice alice@new.example\nbob bob@corp.example\n")
    assert p.returncode == 1, "a user left with another address is not success"
    assert "alice: already has a token with another address, unchanged" in p.stdout
    assert "bob: enrolled, no PIN, codes to bob@corp.example" in p.stdout
    assert site.read_record("alice")["email"] == "alice@old.example"
    assert site.read_record("bob")["state"] == "enabled"
    assert site.read_record("bob")["pin"] == "-"


def test_bulk_without_pending_or_no_pin_is_refused_clearly(site, tmp_path):
    listing = users_file(tmp_path, ["alice alice@corp.example"])
    p = site.cli("enroll", "--from", listing)
    assert p.returncode == 64
    assert "bulk enrolment sets no PIN: give --pending" in p.stderr
    assert "--no-pin" in p.stderr
    assert site.read_record("alice") is None


def test_pending_single_user_then_activated_by_the_first_login(site, smtp):
    p = site.cli("enroll", "carol", "--email", "carol@corp.example", "--pending")
    assert p.returncode == 0, p.stderr
    assert "pending enrolment of carol" in p.stdout
    assert "state:      pending" in site.cli("show", "carol", check=True).stdout
    assert site.cli("enable", "carol").returncode == 1, "a pending enrolment is activated by a login only"
    res = site.authenticate("carol", CodeAnswerer(smtp), args="pin=none")
    assert res.rc == 0, res.describe()
    assert site.read_record("carol")["state"] == "enabled"
    assert smtp.last()["X-EmailOTP-Alert"] == "enrolled"


@pytest.fixture
def group_with_members():
    """A group of three accounts (made and removed by the test); one has it as primary group."""
    group = "eotpg%s" % os.urandom(3).hex()
    subprocess.run(["groupadd", group], check=True)
    names = ["eotpm%s" % os.urandom(3).hex() for _ in range(3)]
    subprocess.run(["useradd", "--no-create-home", "-g", group, names[0]], check=True)
    for n in names[1:]:
        subprocess.run(["useradd", "--no-create-home", "-G", group, n], check=True)
    yield group, sorted(names)
    for n in names:
        subprocess.run(["userdel", "--force", n], stderr=subprocess.DEVNULL)
    subprocess.run(["groupdel", group], stderr=subprocess.DEVNULL)


@pytest.fixture
def mail_of():
    d = tempfile.mkdtemp(prefix="emailotp-bulk-", dir="/run")
    os.chmod(d, 0o755)
    cmd = pathlib.Path(d) / "mail-of"
    cmd.write_text('#!/bin/sh\ncase "$1" in eotpm*) echo "$1@corp.example";; *) exit 1;; esac\n')
    os.chown(cmd, 0, 0)
    os.chmod(cmd, 0o755)
    yield cmd
    shutil.rmtree(d, ignore_errors=True)


def test_every_member_of_a_group(site, group_with_members, mail_of):
    group, names = group_with_members
    site.write_config(address_command=mail_of)
    p = site.cli("enroll", "--group", group, "--pending")
    assert p.returncode == 0, p.stderr
    for n in names:
        assert "%s: pending enrolment, codes to the address from address_command" % n in p.stdout
        assert site.read_record(n)["email"] == "-"
    assert p.stdout.splitlines()[-1] == "3 enrolled, 0 unchanged, 0 with another address"
    again = site.cli("enroll", "--group", group, "--pending")
    assert again.stdout.splitlines()[-1] == "0 enrolled, 3 unchanged, 0 with another address"


def test_a_group_member_without_an_address_enrols_nobody(site, group_with_members, tmp_path):
    group, names = group_with_members
    d = tempfile.mkdtemp(prefix="emailotp-bulk-", dir="/run")
    try:
        os.chmod(d, 0o755)
        cmd = pathlib.Path(d) / "mail-of"
        cmd.write_text('#!/bin/sh\n[ "$1" = "%s" ] && exit 1\necho "$1@corp.example"\n' % names[1])
        os.chown(cmd, 0, 0)
        os.chmod(cmd, 0o755)
        site.write_config(address_command=cmd)
        p = site.cli("enroll", "--group", group, "--no-pin")
        assert p.returncode == 65, p.stderr
        assert names[1] in p.stderr
        for n in names:
            assert site.read_record(n) is None
    finally:
        shutil.rmtree(d, ignore_errors=True)
