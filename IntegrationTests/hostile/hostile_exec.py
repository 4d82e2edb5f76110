"""Run as the unprivileged caller: shape the process as a hostile caller would, then exec.

    python3 hostile_exec.py SPEC.json -- PROGRAM ARG...

SPEC: {"env": {NAME: VALUE} (the whole environment), "limits": {"FSIZE": [soft, hard], ...},
"ignore": [signal names], "block": [signal names] or "all", "close": [descriptors],
"open": [files left open, inherited across exec], "umask": the umask (an int)}.
"""

import json
import os
import resource
import signal
import sys

spec = json.load(open(sys.argv[1]))
argv = sys.argv[sys.argv.index("--") + 1:]
for name, (soft, hard) in spec.get("limits", {}).items():
    resource.setrlimit(getattr(resource, "RLIMIT_" + name), (soft, hard))
for name in spec.get("ignore", []):
    signal.signal(getattr(signal, name), signal.SIG_IGN)
block = spec.get("block", [])
if block == "all":
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
elif block:
    signal.pthread_sigmask(signal.SIG_BLOCK, [getattr(signal, n) for n in block])
for path in spec.get("open", []):
    os.set_inheritable(os.open(path, os.O_RDONLY), True)
if "umask" in spec:
    os.umask(spec["umask"])
for fd in spec.get("close", []):
    try:
        os.close(fd)
    except OSError:
        pass
os.execvpe(argv[0], argv, spec.get("env", dict(os.environ)))
