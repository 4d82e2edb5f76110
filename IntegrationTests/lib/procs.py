"""Ending the processes a test started."""

import subprocess


def stop_process(proc, grace=10):
    """SIGTERM, then SIGKILL if `proc` has not exited within `grace` seconds; reaps it."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
