"""Capture syslog(3) lines by binding /dev/log (only when nothing else owns it).

    with SyslogCapture() as log:        # pytest.skip()s if /dev/log exists already
        ...run a PAM transaction...
        lines = log.lines()             # [(facility, severity, text)] received so far

run-all.sh runs the suites under private-dev.sh, a /dev of their own without /dev/log, so they
never skip there.

glibc's syslog() sends one datagram per line to /dev/log synchronously, so by
the time the PAM transaction returned, its lines are queued on the socket.
"""

import os
import re
import socket

PATH = "/dev/log"
LOG_AUTHPRIV = 10


class SyslogUnavailable(Exception):
    pass


class SyslogCapture:
    def __init__(self, path=PATH):
        self.path = path
        self.sock = None
        self._lines = []

    def __enter__(self):
        if os.path.lexists(self.path):
            raise SyslogUnavailable("%s exists already (a syslog daemon runs)" % self.path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(self.path)
        os.chmod(self.path, 0o666)
        s.setblocking(False)
        self.sock = s
        return self

    def __exit__(self, *exc):
        if self.sock is not None:
            self.sock.close()
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        return False

    def lines(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                break
            text = data.decode("utf-8", "replace").rstrip("\x00\n")
            m = re.match(r"<(\d+)>(.*)", text, re.S)
            if m:
                pri = int(m.group(1))
                self._lines.append((pri >> 3, pri & 7, m.group(2)))
            else:
                self._lines.append((None, None, text))
        return list(self._lines)

    def text(self):
        return "\n".join(t for _, _, t in self.lines())
