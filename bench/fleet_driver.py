#!/usr/bin/python3
"""One host's login driver for bench/fleet.py, run inside the host's network namespace:

    ip netns exec NS bench/fleet_driver.py PAMRUN PAMDIR SERVICE MAILDIR PIN

Reads one JSON object a line ({"id": N, "user": U}) and answers each with one line
{"id", "rc1", "t1", "rc2", "t2", "code", "end"}: a whole challenge-mode login, each step a fresh
process as sshd runs one (bench/pamrun: pam_start_confdir + pam_authenticate): the PIN (code
mailed into the host's Maildir, rc1 = 7), then the PIN followed by that code (rc2 = 0 on
success). t1, t2: wall seconds of each step's process; end: CLOCK_MONOTONIC at the end (one
clock for every namespace). {"id", "user", "answer"} runs one step with that answer (rc1, t1).
Logins run concurrently, 16 at most.
"""
import concurrent.futures
import email
import email.policy
import json
import os
import re
import subprocess
import sys
import threading
import time

CODE_LINE = re.compile(r"^    (\d{6,10})[ \t]*$", re.M)


def main():
    pamrun, pamdir, service, maildir, pin = sys.argv[1:6]
    new = os.path.join(maildir, "new")
    out_lock = threading.Lock()

    def step(user, answer):
        start = time.monotonic()
        p = subprocess.run([pamrun, pamdir, service, user, answer], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        return p.returncode, time.monotonic() - start

    def take_code(user):
        for name in os.listdir(new):
            path = os.path.join(new, name)
            try:
                with open(path, "rb") as f:
                    message = email.message_from_bytes(f.read(), policy=email.policy.default)
            except FileNotFoundError:
                continue
            if str(message["To"]).startswith(user + "@"):
                os.unlink(path)
                part = message.get_body(("plain",))
                body = part.get_content() if part is not None else ""
                found = CODE_LINE.search(body)
                return found.group(1) if found else None
        return None

    def login(job):
        if "answer" in job:                      # one step with a given answer (a replay)
            rc, t = step(job["user"], job["answer"])
            line = json.dumps({"id": job["id"], "rc1": rc, "t1": t, "rc2": None, "t2": 0.0, "end": time.monotonic()})
            with out_lock:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
            return
        rc1, t1 = step(job["user"], pin)
        rc2, t2, code = None, 0.0, None
        if rc1 == 7:
            code = take_code(job["user"])
            if code:
                rc2, t2 = step(job["user"], pin + code)
        line = json.dumps({"id": job["id"], "rc1": rc1, "t1": t1, "rc2": rc2, "t2": t2, "code": code,
                           "end": time.monotonic()})
        with out_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def guarded(job):
        try:
            login(job)
        except Exception as e:          # an answer for every job: the bench counts it as failed
            line = json.dumps({"id": job["id"], "rc1": None, "t1": 0.0, "rc2": None, "t2": 0.0,
                               "error": repr(e), "end": time.monotonic()})
            with out_lock:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        for line in sys.stdin:
            if line.strip():
                pool.submit(guarded, json.loads(line))


if __name__ == "__main__":
    main()
