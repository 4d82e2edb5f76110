"""emailotp metrics: the Prometheus text format, read back by prometheus_client's own parser
(Debian's python3-prometheus-client), with values that match the store after a scripted
sequence: enrol, lock, trigger, disable."""

import os

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lib.env import DEFAULT_PIN

EXPECTED_FAMILIES = {
    "emailotp_tokens", "emailotp_tokens_locked", "emailotp_tokens_address_from_command",
    "emailotp_tokens_with_recovery_codes", "emailotp_open_challenges", "emailotp_mails_last_hour",
    "emailotp_failures", "emailotp_tokens_with_failures", "emailotp_records_unreadable",
    "emailotp_sources_throttled", "emailotp_sources_locked",
}


def metrics(site):
    p = site.cli("metrics", check=True)
    families = list(text_string_to_metric_families(p.stdout))
    for line in p.stdout.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or line.startswith("emailotp_"), line
    values = {}
    for family in families:
        assert family.type == "gauge" and family.documentation, family
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    assert {f.name for f in families} == EXPECTED_FAMILIES
    return values


def value(values, name, **labels):
    return values[(name, tuple(sorted(labels.items())))]


def from_store(site, users):
    """The same figures computed from the record files themselves."""
    records = [site.read_record(u) for u in users]
    return {
        "enabled": sum(r["state"] == "enabled" for r in records),
        "disabled": sum(r["state"] == "disabled" for r in records),
        "locked": sum(r["locked_at"] != "0" for r in records),
        "open": sum(len(r["challenges"]) for r in records),
        "mails": sum(len(r["mails"].split()) for r in records),
        "fails": sum(int(r["fail_count"]) for r in records),
        "with_fails": sum(int(r["fail_count"]) > 0 for r in records),
        "from_command": sum(r["email"] == "-" for r in records),
    }


def test_empty_store(site):
    values = metrics(site)
    assert value(values, "emailotp_tokens", state="enabled") == 0
    assert value(values, "emailotp_open_challenges") == 0


def test_values_match_the_store_after_enrol_lock_trigger(site):
    site.write_config(max_fail=3, unlock_time=0)
    users = ["alice", "bob", "carol", "dave"]
    for u in ("alice", "bob", "carol"):
        site.enroll(u, "%s@example.com" % u)
    site.cli("enroll", "dave", "--address-from-command", "--no-pin", check=True)
    # alice: one code mailed, the challenge open
    p = site.cli("check", "alice", input=DEFAULT_PIN + "\n")
    assert p.returncode == 3, p.stderr
    # bob: three wrong PINs lock the token
    for _ in range(3):
        assert site.cli("check", "bob", input="wrong-pin\n").returncode == 1
    # carol: one wrong PIN, then disabled
    assert site.cli("check", "carol", input="wrong-pin\n").returncode == 1
    site.cli("disable", "carol", check=True)

    values = metrics(site)
    store = from_store(site, users)
    assert store == {"enabled": 3, "disabled": 1, "locked": 1, "open": 1, "mails": 1, "fails": 4,
                     "with_fails": 2, "from_command": 1}
    assert value(values, "emailotp_tokens", state="enabled") == store["enabled"]
    assert value(values, "emailotp_tokens", state="disabled") == store["disabled"]
    assert value(values, "emailotp_tokens_locked") == store["locked"]
    assert value(values, "emailotp_open_challenges") == store["open"]
    assert value(values, "emailotp_mails_last_hour") == store["mails"]
    assert value(values, "emailotp_failures") == store["fails"]
    assert value(values, "emailotp_tokens_with_failures") == store["with_fails"]
    assert value(values, "emailotp_tokens_address_from_command") == store["from_command"]
    assert value(values, "emailotp_tokens_with_recovery_codes") == 0
    assert value(values, "emailotp_records_unreadable") == 0

    # An expired challenge is no longer open; the mail still counts within the hour.
    site.expire_challenges("alice")
    values = metrics(site)
    assert value(values, "emailotp_open_challenges") == 0
    assert value(values, "emailotp_mails_last_hour") == 1


def test_corrupt_record_is_counted_not_fatal(site):
    site.enroll("alice", "alice@example.com")
    site.enroll("bob", "bob@example.com")
    path = site.record_path("bob")
    site.write_file(path, "emailotp-token 1\nuser bob\ngarbage\n", 0o600)
    values = metrics(site)
    assert value(values, "emailotp_records_unreadable") == 1
    assert value(values, "emailotp_tokens", state="enabled") == 1
