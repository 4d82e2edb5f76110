#!/usr/bin/python3
"""A /dev/log for one mount namespace: binds the AF_UNIX datagram socket PATH,
appends each syslog datagram as one line to LOGFILE (flushed at once), prints
READY on stdout once bound, and runs until SIGTERM.

    devlog.py /dev/log LOGFILE
"""

import os
import signal
import socket
import sys


def main():
    path, logfile = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if os.path.lexists(path):
        os.unlink(path)
    s.bind(path)
    os.chmod(path, 0o666)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(logfile, "ab", buffering=0) as out:
        print("READY", flush=True)
        while True:
            data = s.recv(65536)
            out.write(data.rstrip(b"\x00\n").replace(b"\n", b" ") + b"\n")


if __name__ == "__main__":
    main()
