"""The store contract, run against both backends through real libpam: the file store and
the PostgreSQL store (a private cluster, lib/pgcluster.py).  Same flows, same guarantees."""

import concurrent.futures

import pytest

from lib.env import DEFAULT_PIN, ALICE, ALICE_EMAIL, TestSite
from lib.flows import wrong_code
from lib.mail import extract_code, extract_txid
from lib.pamdriver import PAM_SUCCESS, PAM_AUTH_ERR, PAM_AUTHINFO_UNAVAIL


@pytest.fixture(params=["file", "postgresql"])
def store_site(request, product, tmp_path, smtp):
    keys = {"resend_interval": 0, "max_mails_per_hour": 1000}
    if request.param == "file":
        yield TestSite(tmp_path, smtp=smtp, keys=keys)
        return
    pg = request.getfixturevalue("pg")
    request.getfixturevalue("pg_schema")
    from lib.pgcluster import PGSite
    pg.sql("DELETE FROM emailotp_tokens")
    yield PGSite(tmp_path, pg, smtp=smtp, keys=keys)


def attempt(site, password, user=ALICE, args=""):
    a = "mode=challenge" + (" " + args if args else "")
    return site.authenticate(user, lambda style, text: password, args=a)


def trigger(site, smtp, user=ALICE):
    n = smtp.count()
    assert attempt(site, DEFAULT_PIN, user=user).rc == PAM_AUTH_ERR
    assert smtp.count() == n + 1
    return extract_code(smtp.last()), extract_txid(smtp.last())


def write_record_text(site, user, text):
    if hasattr(site, "pg"):
        site.pg.set_record_text(user, text)
    else:
        site.write_file(site.record_path(user), text, 0o600)


def test_a_code_is_good_once(store_site, smtp):
    store_site.enroll(ALICE, ALICE_EMAIL)
    code, _ = trigger(store_site, smtp)
    assert attempt(store_site, DEFAULT_PIN + code).rc == PAM_SUCCESS
    assert attempt(store_site, DEFAULT_PIN + code).rc == PAM_AUTH_ERR
    assert store_site.read_record(ALICE)["challenges"] == []


def test_a_wrong_code_costs_a_try_and_a_failure(store_site, smtp):
    store_site.write_config(otp_tries=2)
    store_site.enroll(ALICE, ALICE_EMAIL)
    code, _ = trigger(store_site, smtp)
    assert attempt(store_site, DEFAULT_PIN + wrong_code(code)).rc == PAM_AUTH_ERR
    record = store_site.read_record(ALICE)
    assert record["fail_count"] == "1" and record["challenges"][0]["tries_left"] == 1
    assert attempt(store_site, DEFAULT_PIN + wrong_code(code)).rc == PAM_AUTH_ERR
    assert store_site.read_record(ALICE)["challenges"] == []
    assert attempt(store_site, DEFAULT_PIN + code).rc == PAM_AUTH_ERR


def test_max_fail_locks_and_reset_unlocks(store_site, smtp):
    store_site.write_config(max_fail=2)
    store_site.enroll(ALICE, ALICE_EMAIL)
    for _ in range(2):
        assert attempt(store_site, "bad-pin").rc == PAM_AUTH_ERR
    n = smtp.count()
    assert attempt(store_site, DEFAULT_PIN).rc == PAM_AUTH_ERR
    assert smtp.count() == n
    store_site.cli("reset", ALICE, check=True)
    trigger(store_site, smtp)


def test_an_expired_code_is_refused(store_site, smtp):
    store_site.enroll(ALICE, ALICE_EMAIL)
    code, _ = trigger(store_site, smtp)
    store_site.expire_challenges(ALICE)
    assert attempt(store_site, DEFAULT_PIN + code).rc == PAM_AUTH_ERR


def test_an_unknown_user_leaves_nothing(store_site, smtp):
    assert attempt(store_site, DEFAULT_PIN, user="nobody-at-all").rc == PAM_AUTH_ERR
    assert store_site.read_record("nobody-at-all") is None
    assert smtp.count() == 0


def test_a_corrupt_record_fails_closed_for_that_user_only(store_site, smtp):
    store_site.enroll(ALICE, ALICE_EMAIL)
    store_site.enroll("bob", "bob@example.com")
    write_record_text(store_site, ALICE, "emailotp-token 1\nuser alice\nadmin yes\n")
    assert attempt(store_site, DEFAULT_PIN).rc == PAM_AUTHINFO_UNAVAIL
    trigger(store_site, smtp, user="bob")


def test_parallel_logins_lose_no_failure_and_use_a_code_once(store_site, smtp):
    # every `emailotp check` is one source: no lock of any kind may interfere with the count
    store_site.write_config(max_fail=1000, max_fail_source=1000)
    store_site.enroll(ALICE, ALICE_EMAIL)
    code, txid = trigger(store_site, smtp)
    jobs = [lambda: store_site.cli("check", ALICE, input="wrong-%d\n" % i).returncode for i in range(16)]
    jobs += [lambda: store_site.cli("check", ALICE, "--transaction-id", txid, input=code + "\n").returncode
             for _ in range(4)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        codes = list(pool.map(lambda job: job(), jobs))
    assert codes[16:].count(0) == 1 and codes[16:].count(1) == 3, codes
    assert codes[:16] == [1] * 16
    # the grant cleared the failures counted before it: count afresh, with no grant
    store_site.cli("reset", ALICE, check=True)
    jobs = [lambda: store_site.cli("check", ALICE, input="wrong-%d\n" % i).returncode for i in range(16)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        list(pool.map(lambda job: job(), jobs))
    assert store_site.read_record(ALICE)["fail_count"] == "16"
