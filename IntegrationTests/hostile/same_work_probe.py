"""Run by the unprivileged caller (standard library only): what a local user sees of another
user's login through real su and the world-readable /proc of the root helper.

    python3 same_work_probe.py ROUNDS WRONG_PIN CASE=USER...

Each round runs `su USER -c true` once for every case, in a new random order (so that load on
the machine falls on every case alike), answers the PIN prompt with WRONG_PIN and watches the
helper from the answer until it ends: its voluntary and involuntary context switches and its
schedstat (CPU time, run-queue wait, time slices) since the answer and its lifetime after the
answer. Then it kills its su (which sleeps login.defs' FAIL_DELAY after a failure, the same
for every case). Prints {case: [sample, ...]} as JSON.
"""

import json
import os
import pty
import random
import select
import signal
import sys
import time

HELPER = "emailotp-helper"


def read_until(fd, token, seconds=30):
    deadline = time.monotonic() + seconds
    seen = b""
    while token not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no %r in %r" % (token, seen))
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                raise EOFError("su ended before %r: %r" % (token, seen))
            seen += data
    return seen


def parent_and_state(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[1]), fields[0]


def helper_pid(su, seconds=10):
    """The live helper under this su (killed su's leave zombies of theirs behind)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/comm" % name) as f:
                    if f.read().strip() != HELPER:
                        continue
                pid = int(name)
                parent, state = parent_and_state(pid)
                if state in "ZX":
                    continue
                for _ in range(4):
                    if parent == su:
                        return pid
                    parent, _ = parent_and_state(parent)
            except (OSError, ValueError, IndexError):
                pass
        time.sleep(0.001)
    raise TimeoutError("no %s process under su %d" % (HELPER, su))


def sample(pid):
    """(state, voluntary, involuntary, cpu ns, wait ns, slices), or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        with open("/proc/%d/status" % pid) as f:
            status = f.read()
        with open("/proc/%d/schedstat" % pid) as f:
            sched = f.read().split()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return (stat.rsplit(")", 1)[1].split()[0], int(fields["voluntary_ctxt_switches"]),
            int(fields["nonvoluntary_ctxt_switches"]), int(sched[0]), int(sched[1]), int(sched[2]))


def one(user, wrong):
    pid, fd = pty.fork()
    if pid == 0:
        os.execv("/bin/su", ["su", user, "-c", "true"])
    try:
        read_until(fd, b"PIN: ")
        helper = helper_pid(pid)
        before = sample(helper)
        start = time.monotonic()
        os.write(fd, wrong.encode() + b"\n")
        last = before
        while True:
            now = sample(helper)
            if now is None:
                break
            last = now
            if now[0] in "ZX":
                break
            time.sleep(0.0005)
        life = time.monotonic() - start
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    return {"voluntary": last[1] - before[1], "involuntary": last[2] - before[2],
            "cpu_ms": (last[3] - before[3]) / 1e6, "wait_ms": (last[4] - before[4]) / 1e6,
            "slices": last[5] - before[5], "life_ms": life * 1000}


def main():
    rounds, wrong = int(sys.argv[1]), sys.argv[2]
    cases = dict(arg.split("=", 1) for arg in sys.argv[3:])
    out = {case: [] for case in cases}
    for _ in range(rounds):
        order = list(cases)
        random.shuffle(order)
        for case in order:
            out[case].append(one(cases[case], wrong))
    json.dump(out, sys.stdout)


main()
