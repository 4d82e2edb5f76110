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
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
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
