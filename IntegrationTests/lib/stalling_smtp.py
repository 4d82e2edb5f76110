"""A hostile SMTP server on loopback (plain text) that goes silent at one step of the exchange
and keeps the connection open: the client's timeout alone must end the wait.

    with StallingSMTP("end") as server:   # server.port; server.accepted: messages taken
        ...

Steps, in the order of the exchange: "greeting" (accepts the connection, never greets),
"ehlo", "mail", "rcpt", "data" (no reply to the command DATA), "end" (the message is read,
its end gets no reply), "quit" (the message is accepted with 250, QUIT gets no reply).
"""

import socket
import threading

STEPS = ("greeting", "ehlo", "mail", "rcpt", "data", "end", "quit")


class StallingSMTP:
    def __init__(self, step):
        assert step in STEPS, step
        self.step = step
        self.accepted = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.held = []
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        self.thread.join(5)
        for c in self.held:
            c.close()
        self.sock.close()

    def serve(self):
        while not self.stop.is_set():
            conn, _ = self.sock.accept()
            if self.stop.is_set():
                conn.close()
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def stall(self, conn):
        """Says nothing more; keeps the connection until the client closes it."""
        self.held.append(conn)
        try:
            while conn.recv(4096):
                pass
        except OSError:
            pass

    def session(self, conn):
        f = conn.makefile("rb")
        try:
            if self.step == "greeting":
                return self.stall(conn)
            conn.sendall(b"220 stalling.test ESMTP\r\n")
            message = []
            while True:
                line = f.readline()
                if not line:
                    return
                verb = line[:4].upper()
                step = {b"EHLO": "ehlo", b"HELO": "ehlo", b"MAIL": "mail", b"RCPT": "rcpt",
                        b"DATA": "data", b"QUIT": "quit"}.get(verb)
                if step == self.step:
                    return self.stall(conn)
                if verb in (b"EHLO", b"HELO"):
                    conn.sendall(b"250 stalling.test\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 go on\r\n")
                    while True:
                        body = f.readline()
                        if not body or body == b".\r\n":
                            break
                        message.append(body)
                    if self.step == "end":
                        return self.stall(conn)
                    self.accepted.append(b"".join(message))
                    conn.sendall(b"250 queued\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")
        except OSError:
            pass
        finally:
            f.close()
            conn.close()
