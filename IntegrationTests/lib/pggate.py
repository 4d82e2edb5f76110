"""A TCP relay in front of PostgreSQL (plain text, sslmode=disable) that lets a test order the steps
of concurrent answers: with `hold=True` it holds a connection right after an answer's charge was
committed (the first COMMIT that follows an UPDATE on that connection) until `release()`, so the
answer's settlement has not started; it also tells when a connection sent a ROLLBACK (the module
gives a row up that way when it waits for another answer to settle)."""

import socket
import threading


class AnswerGate:
    def __init__(self, target, hold=False):
        self.target = target
        self.hold = hold
        self.held = threading.Event()          # a settlement's first message is being held
        self.rolled_back = threading.Event()   # some connection sent ROLLBACK
        self.progress = None                   # an extra Event set on rolled_back, if given
        self._released = threading.Event()
        self._armed = hold
        self._lock = threading.Lock()
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        self._sockets = []
        self.statements = []                   # the SQL of every Query and Parse message sent
        threading.Thread(target=self._accept, daemon=True).start()

    def uri(self, pg):
        return pg.uri().replace("%s:%d" % (pg.listen, pg.port), "127.0.0.1:%d" % self.port)

    def release(self):
        self._released.set()

    def close(self):
        self._released.set()
        for s in [self._server] + self._sockets:
            try:
                s.close()
            except OSError:
                pass

    def _accept(self):
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            self._sockets += [client, server]
            threading.Thread(target=self._upstream, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    def _upstream(self, client, server):
        updated, holding = False, False
        stream = _Messages(self.statements)
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                stream.feed(data)
                if holding:
                    holding = False
                    self.held.set()
                    self._released.wait()
                if b"ROLLBACK" in data:
                    self.rolled_back.set()
                    if self.progress is not None:
                        self.progress.set()
                if b"UPDATE emailotp_tokens" in data:
                    updated = True
                if updated and b"COMMIT" in data:
                    with self._lock:
                        if self._armed:
                            self._armed = False
                            holding = True
                server.sendall(data)
        except OSError:
            pass
        finally:
            _shut(client, server)

    @staticmethod
    def _pipe(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _shut(source, sink)


def _shut(*sockets):
    for s in sockets:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _Messages:
    """Splits a client's stream into protocol messages and notes the SQL of Query ('Q') and
    Parse ('P') messages. The first messages carry no type byte (startup; an SSL or GSS
    request, refused with sslmode=disable, comes before the startup)."""

    def __init__(self, statements):
        self.statements = statements
        self.buffer = b""
        self.started = False

    def feed(self, data):
        self.buffer += data
        while True:
            if not self.started:
                if len(self.buffer) < 8:
                    return
                length = int.from_bytes(self.buffer[:4], "big")
                if len(self.buffer) < length:
                    return
                code = int.from_bytes(self.buffer[4:8], "big")
                self.buffer = self.buffer[length:]
                self.started = code not in (80877103, 80877104)
                continue
            if len(self.buffer) < 5:
                return
            kind, length = self.buffer[:1], int.from_bytes(self.buffer[1:5], "big")
            if len(self.buffer) < 1 + length:
                return
            body, self.buffer = self.buffer[5:1 + length], self.buffer[1 + length:]
            if kind == b"Q":
                self.statements.append(body.split(b"\0")[0].decode())
            elif kind == b"P":
                self.statements.append(body.split(b"\0")[1].decode())
