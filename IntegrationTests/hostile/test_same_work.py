"""The same work whatever the token (pam_emailotp(8), SECURITY): a local user who runs
`su TARGET` and types a wrong PIN cannot tell from the root helper's world-readable /proc
(context switches, schedstat) or from its lifetime whether TARGET has a usable
token, none, or a locked, disabled or PIN-less one. Every attempt makes the same durable
writes (the record or the decoy record), the same hashes and the same waits, and the helper
waits out the fail delay itself before it ends."""

import json
import math
import os
import pathlib
import subprocess
import time

import pytest

import svc

pytestmark = pytest.mark.hostile

PROBE = pathlib.Path(__file__).resolve().parent / "same_work_probe.py"
STACK = ("auth sufficient pam_rootok.so\n"
         "auth required pam_emailotp.so config=%s\n"
         "account required pam_permit.so\n"
         "session required pam_permit.so\n")
WRONG = "not-the-PIN-42"
CASES = ("enrolled", "unenrolled", "locked", "disabled", "no-pin")
# Mann-Whitney |z| above which two cases count as told apart: p < 2e-5 two-sided per pair
# (Bonferroni over the pairs and signals measured). The gap this guards against measured
# z = 6.65 in 30 tries per case; load on the machine falls on every case alike (each round
# runs the cases in a new random order), so a loaded machine widens both sides, not the gap.
Z_MAX = 4.3


def mann_whitney_z(a, b):
    """The normal approximation of the Mann-Whitney U statistic, with the tie correction."""
    pooled = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks = [0.0] * len(pooled)
    ties = 0.0
    i = 0
    while i < len(pooled):
        j = i
        while j + 1 < len(pooled) and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        t = j - i + 1
        ties += t ** 3 - t
        i = j + 1
    n1, n2 = len(a), len(b)
    n = n1 + n2
    r1 = sum(r for r, (_, group) in zip(ranks, pooled) if group == 0)
    u = r1 - n1 * (n1 + 1) / 2
    var = n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1)))
    return 0.0 if var == 0 else (u - n1 * n2 / 2) / math.sqrt(var)


def lock(site, user):
    """Locks the token in the store, as max_fail failures would (unlock_time 0: for good), its
    lockout alert already sent (once per lock)."""
    path = site.record_path(user)
    lines = path.read_text().splitlines()
    now = int(time.time())
    out = ["locked_at %d" % now if l.startswith("locked_at ") else
           "fail_count 5" if l.startswith("fail_count ") else l for l in lines] + ["lock_alerted %d" % now]
    site.write_file(path, "\n".join(out) + "\n", 0o600)
    assert site.read_record(user)["locked_at"] != "0"


def targets(site, users):
    made = {case: users.create() for case in CASES}
    for case in ("enrolled", "locked", "disabled"):
        site.enroll(made[case].name, made[case].email, pin=svc.PIN)
    site.enroll(made["no-pin"].name, made["no-pin"].email, pin=None)
    lock(site, made["locked"].name)
    site.cli("disable", made["disabled"].name, check=True)
    return made


def probe(tmp_path, site, caller, made, rounds):
    pam = svc.write_file(tmp_path / "pam.su", STACK % site.config)
    argv = svc.ns_argv([(pam, "/etc/pam.d/su")], [
        "setpriv", "--reuid", caller.name, "--regid", caller.name, "--init-groups", "--",
        "/usr/bin/python3", str(PROBE), str(rounds), WRONG] + ["%s=%s" % (c, made[c].name) for c in CASES])
    p = subprocess.run(argv, capture_output=True, text=True, timeout=600, env={"PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def table(samples):
    signals = list(next(iter(samples.values()))[0])
    lines = ["%-11s" % "case" + "".join("%14s" % s for s in signals)]
    for case, rows in samples.items():
        lines.append("%-11s" % case + "".join(
            "%14s" % ("%.2f" % (sum(r[s] for r in rows) / len(rows))) for s in signals))
    return "\n".join(lines)


@pytest.fixture
def quiet_site(site):
    """No fail delay (the lifetimes then show the work itself), no lock from the wrong PINs: of
    the token, nor of their source (the su's terminal, locked after max_fail_source)."""
    site.write_config(fail_delay=0, max_fail=1000, max_fail_source=1000, unlock_time=0)
    return site


def test_wrong_pin_costs_the_same_whatever_the_token(tmp_path, quiet_site, users):
    site = quiet_site
    caller = users.create()
    made = targets(site, users)
    before = {c: site.read_record(made[c].name) for c in CASES}
    samples = probe(tmp_path, site, caller, made, int(os.environ.get("SAME_WORK_ROUNDS", "60")))
    report = table(samples)
    print("\nmeans per wrong PIN through su (helper since the answer; %d tries per case):\n%s"
          % (len(samples["enrolled"]), report))
    told = []
    for signal in ("voluntary", "cpu_ms", "slices", "life_ms"):
        for case in CASES[1:]:
            z = mann_whitney_z([r[signal] for r in samples["enrolled"]], [r[signal] for r in samples[case]])
            if abs(z) > Z_MAX:
                told.append("%s: enrolled vs %s, z = %.2f" % (signal, case, z))
    assert not told, "a local user tells the token's state apart:\n%s\n%s" % ("\n".join(told), report)
    # The wrong PINs were counted against the usable token, and nothing else changed.
    rounds = len(samples["enrolled"])
    assert int(site.read_record(made["enrolled"].name)["fail_count"]) == rounds
    for case in CASES[1:]:
        assert site.read_record(made[case].name) == before[case], case
    users_dir = site.store / "users"
    assert sorted(os.listdir(users_dir)) == sorted([".decoy"] + [svc_encode(made[c].name) for c in CASES if c != "unenrolled"])


def svc_encode(name):
    from lib.env import encode_user
    return encode_user(name)


def test_helper_waits_out_the_fail_delay(tmp_path, site, users):
    """With fail_delay = 1 the helper of su ends no earlier than a second after the wrong PIN,
    whatever the token: the caller cannot watch it finish early."""
    site.write_config(fail_delay=1, max_fail=1000, unlock_time=0)
    caller = users.create()
    made = targets(site, users)
    samples = probe(tmp_path, site, caller, made, 1)
    for case in CASES:
        life = samples[case][0]["life_ms"]
        assert life >= 1000, "%s: the helper ended %.0f ms after the wrong PIN, before the fail delay" % (case, life)
