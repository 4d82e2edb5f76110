#!/usr/bin/python3
"""A real SMTP server (aiosmtpd) on loopback that captures every message.

Python API (run the server in a subprocess, so that any client process -- the
PAM module inside this test process, sshd, sudo, su, the emailotp command --
can talk to it):

    with SMTPCapture(tmp_path / "mail", tls=None|"starttls"|"implicit",
                     auth=None|("user", "pass"), require_starttls=False) as smtp:
        smtp.port          # free loopback port on 127.0.0.1
        smtp.host          # "127.0.0.1"
        smtp.ca_file       # CA certificate (PEM) that signed the server certificate
        smtp.messages()    # [email.message.EmailMessage] in the order received
        smtp.count()       # number of accepted messages
        smtp.envelopes()   # [{"mail_from", "rcpt_tos", "tls", "auth_user"}] same order
        smtp.auth_log      # [(mechanism, user, ok)] every AUTH attempt, in order
        smtp.events()      # [dict] connect/ehlo/starttls/auth/data/close events, in order, each
                       # with "t": time.monotonic() of the server process

Every accepted message is written to DIRECTORY/NNNN.eml (temporary file +
rename) inside handle_DATA, before the 250 reply: when the client returns,
the file is there, and tests never sleep.  Bookkeeping files are hidden
(DIRECTORY/.tls/, DIRECTORY/.events.jsonl, DIRECTORY/.server.log).

Extra keyword options: cert_names=("localhost", "127.0.0.1") -- the names in
the server certificate's subjectAltName (give ("wrong.example",) to test host
name verification); reject=None|"rcpt"|"data" -- answer 550/554 instead of
accepting; drop=None|"data"|"stall" -- a transport failing mid-way: "data"
takes the whole message after DATA, keeps it as DIRECTORY/.dropped/NNNN.eml
(smtp.dropped_messages()) and closes the connection without a reply; "stall"
takes the message and never replies (the client's timeout must end it).

The server certificate is signed by a throw-away CA made with the openssl
command; the CA is `ca_file`.  With tls="starttls" the server offers STARTTLS;
with require_starttls=True AUTH (and MAIL) are only accepted after STARTTLS.
With tls="implicit" the listening socket speaks TLS from the first byte.
With auth=None no AUTH is offered on a plain connection.

Script usage (what the context manager runs):
    /usr/bin/python3 smtp_capture.py --dir D --port 0 [--tls starttls|implicit
        --cert C --key K] [--auth-user U --auth-pass P] [--require-starttls]
        [--reject rcpt|data] [--drop data|stall]
prints "PORT n" on stdout once listening, and runs until SIGTERM.
"""

import argparse
import email
import email.policy
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

PYTHON = "/usr/bin/python3"
HERE = os.path.dirname(os.path.abspath(__file__))


# --------------------------------------------------------------------------
# certificates

def make_certificates(directory, names=("localhost", "127.0.0.1")):
    """Create ca.pem/ca.key and server.pem/server.key in directory with the
    openssl command.  Returns (ca_file, cert_file, key_file)."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    ca_key = os.path.join(directory, "ca.key")
    ca_pem = os.path.join(directory, "ca.pem")
    key = os.path.join(directory, "server.key")
    csr = os.path.join(directory, "server.csr")
    pem = os.path.join(directory, "server.pem")
    ext = os.path.join(directory, "server.ext")
    san = []
    for n in names:
        try:
            socket.inet_pton(socket.AF_INET, n)
            san.append("IP:" + n)
        except OSError:
            try:
                socket.inet_pton(socket.AF_INET6, n)
                san.append("IP:" + n)
            except OSError:
                san.append("DNS:" + n)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(args):
        subprocess.run(["openssl"] + args, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    run(["req", "-x509", "-new"] + ec + ["-keyout", ca_key, "-out", ca_pem,
        "-days", "2", "-subj", "/CN=emailotp test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    run(["req", "-new"] + ec + ["-keyout", key, "-out", csr,
        "-subj", "/CN=" + (names[0] if names else "localhost")])
    with open(ext, "w") as f:
        f.write("basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n")
        if san:
            f.write("subjectAltName=" + ",".join(san) + "\n")
    run(["x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key,
         "-CAcreateserial", "-out", pem, "-days", "2", "-extfile", ext])
    for p in (ca_pem, pem):
        os.chmod(p, 0o644)
    return ca_pem, pem, key


def closed_port():
    """A loopback TCP port on which nothing listens (bound, then released)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------
# the parent-side context manager

def free_privileged_port():
    """A loopback port below 1024 that is free now (only root can bind one)."""
    for port in range(1023, 600, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free privileged loopback port")


class SMTPCapture:
    host = "127.0.0.1"

    def __init__(self, directory, *, tls=None, auth=None, require_starttls=False,
                 cert_names=("localhost", "127.0.0.1"), reject=None, drop=None, port=0,
                 prefix=()):
        if tls not in (None, "starttls", "implicit"):
            raise ValueError("tls must be None, 'starttls' or 'implicit'")
        self.directory = os.fspath(directory)
        self.tls = tls
        self.auth = auth
        self.require_starttls = require_starttls
        self.cert_names = tuple(cert_names)
        self.reject = reject
        self.drop = drop
        # argv run before the server, e.g. nsenter into a test's private network namespace
        self.prefix = list(prefix)
        self.port = None
        self._want_port = port
        self.ca_file = None
        self.cert_file = None
        self.key_file = None
        self._proc = None
        self._log = None

    # -- lifecycle
    def start(self):
        os.makedirs(self.directory, mode=0o755, exist_ok=True)
        tlsdir = os.path.join(self.directory, ".tls")
        self.ca_file, self.cert_file, self.key_file = make_certificates(
            tlsdir, self.cert_names)
        argv = self.prefix + [PYTHON, os.path.join(HERE, "smtp_capture.py"),
                              "--dir", self.directory, "--port", str(self._want_port)]
        if self.tls:
            argv += ["--tls", self.tls, "--cert", self.cert_file, "--key", self.key_file]
        if self.auth:
            argv += ["--auth-user", self.auth[0], "--auth-pass", self.auth[1]]
        if self.require_starttls:
            argv += ["--require-starttls"]
        if self.reject:
            argv += ["--reject", self.reject]
        if self.drop:
            argv += ["--drop", self.drop]
        self._log = open(os.path.join(self.directory, ".server.log"), "ab")
        self._proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._log,
                                      stdin=subprocess.DEVNULL, close_fds=True)
        line = self._proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.stop()
            with open(os.path.join(self.directory, ".server.log"), "rb") as f:
                log = f.read().decode(errors="replace")
            raise RuntimeError("SMTP capture server did not start: %r\n%s" % (line, log))
        self.port = int(line.split()[1])
        return self

    def stop(self):
        p = self._proc
        self._proc = None
        if p is not None:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            if p.stdout:
                p.stdout.close()
        if self._log:
            self._log.close()
            self._log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def running(self):
        return self._proc is not None and self._proc.poll() is None

    # -- results
    def message_files(self):
        names = sorted(n for n in os.listdir(self.directory)
                       if n.endswith(".eml") and n[:-4].isdigit())
        return [os.path.join(self.directory, n) for n in names]

    def raw_messages(self):
        out = []
        for p in self.message_files():
            with open(p, "rb") as f:
                out.append(f.read())
        return out

    def messages(self):
        return [email.message_from_bytes(raw, policy=email.policy.default)
                for raw in self.raw_messages()]

    def last(self):
        m = self.messages()
        assert m, "no mail was captured"
        return m[-1]

    def count(self):
        return len(self.message_files())

    def dropped_messages(self):
        """Messages received in full by a drop="data"/"stall" server, which then
        failed the connection instead of answering (oldest first)."""
        d = os.path.join(self.directory, ".dropped")
        if not os.path.isdir(d):
            return []
        out = []
        for n in sorted(n for n in os.listdir(d) if n.endswith(".eml")):
            with open(os.path.join(d, n), "rb") as f:
                out.append(email.message_from_bytes(f.read(), policy=email.policy.default))
        return out

    def envelopes(self):
        out = []
        for p in self.message_files():
            with open(p[:-4] + ".json") as f:
                out.append(json.load(f))
        return out

    def events(self):
        p = os.path.join(self.directory, ".events.jsonl")
        if not os.path.exists(p):
            return []
        with open(p) as f:
            return [json.loads(line) for line in f if line.strip()]

    @property
    def auth_log(self):
        return [(e["mechanism"], e["user"], e["ok"]) for e in self.events()
                if e["ev"] == "auth"]

    def server_log(self):
        with open(os.path.join(self.directory, ".server.log"), "rb") as f:
            return f.read().decode(errors="replace")


# --------------------------------------------------------------------------
# the server process

def _serve(args):
    import asyncio
    import ssl
    from aiosmtpd.smtp import SMTP, AuthResult

    directory = args.dir
    events_path = os.path.join(directory, ".events.jsonl")
    events = open(events_path, "a", buffering=1)
    counter = [len([n for n in os.listdir(directory)
                    if n.endswith(".eml") and n[:-4].isdigit()])]
    implicit = args.tls == "implicit"

    def log_event(**kw):
        # CLOCK_MONOTONIC is one clock for every process: bench.py times the hand-off with it
        kw["t"] = time.monotonic()
        events.write(json.dumps(kw) + "\n")
        events.flush()

    def tls_active(server):
        return implicit or server._tls_protocol is not None

    class Handler:
        async def handle_EHLO(self, server, session, envelope, hostname, responses):
            session.host_name = hostname
            log_event(ev="ehlo", hostname=hostname, tls=tls_active(server))
            return responses

        def handle_STARTTLS(self, server, session, envelope):
            # aiosmtpd calls this hook synchronously after the TLS handshake
            log_event(ev="starttls")
            return True

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if args.reject == "rcpt":
                log_event(ev="rcpt-rejected", address=address)
                return "550 5.1.1 mailbox unavailable (test)"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            if args.drop:
                # the whole message arrived; keep it, then fail instead of answering
                d = os.path.join(directory, ".dropped")
                os.makedirs(d, exist_ok=True)
                n = len(os.listdir(d)) + 1
                content = envelope.original_content or envelope.content
                if isinstance(content, str):
                    content = content.encode("utf-8", "surrogateescape")
                tmp = os.path.join(d, "%04d.tmp" % n)
                with open(tmp, "wb") as f:
                    f.write(content)
                os.rename(tmp, os.path.join(d, "%04d.eml" % n))
                log_event(ev="data-dropped", how=args.drop)
                if args.drop == "stall":
                    await asyncio.Event().wait()
                server.transport.close()
                return "421 4.3.0 never sent (test)"
            if args.reject == "data":
                log_event(ev="data-rejected")
                return "554 5.6.0 message refused (test)"
            counter[0] += 1
            n = counter[0]
            base = os.path.join(directory, "%04d" % n)
            meta = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "tls": tls_active(server),
                "auth_user": (session.login_data.decode("utf-8", "replace")
                              if isinstance(session.login_data, bytes)
                              else session.login_data),
            }
            content = envelope.original_content or envelope.content
            if isinstance(content, str):
                content = content.encode("utf-8", "surrogateescape")
            for path, data in ((base + ".json", json.dumps(meta).encode()),
                               (base + ".eml", content)):
                tmp = path + ".tmp"
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.rename(tmp, path)
            log_event(ev="data", n=n, tls=meta["tls"], auth_user=meta["auth_user"])
            return "250 2.0.0 OK queued as %04d" % n

    def authenticator(server, session, envelope, mechanism, auth_data):
        login = getattr(auth_data, "login", b"") or b""
        password = getattr(auth_data, "password", b"") or b""
        if isinstance(login, bytes):
            login = login.decode("utf-8", "replace")
        if isinstance(password, bytes):
            password = password.decode("utf-8", "replace")
        ok = (args.auth_user is not None and login == args.auth_user
              and password == args.auth_pass)
        log_event(ev="auth", mechanism=mechanism, user=login, ok=ok,
                  tls=tls_active(server))
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    ctx = None
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)

    auth_on = args.auth_user is not None
    kwargs = dict(
        hostname="localhost",
        ident="emailotp-test-smtp",
        authenticator=authenticator,
        decode_data=False,
    )
    if args.tls == "starttls":
        kwargs["tls_context"] = ctx
        kwargs["require_starttls"] = bool(args.require_starttls)
        kwargs["auth_require_tls"] = bool(args.require_starttls) or not auth_on
    elif implicit:
        kwargs["auth_require_tls"] = False
    else:
        # plain server: offer AUTH only when credentials were configured
        kwargs["auth_require_tls"] = not auth_on

    class LoggingSMTP(SMTP):
        def connection_made(self, transport):
            if self.transport is None:
                log_event(ev="connect")
            super().connection_made(transport)

        def connection_lost(self, error):
            log_event(ev="close")
            super().connection_lost(error)

    handler = Handler()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(
        lambda: LoggingSMTP(handler, **kwargs), host="127.0.0.1", port=args.port,
        ssl=ctx if implicit else None))
    port = server.sockets[0].getsockname()[1]

    def stop(*_):
        loop.call_soon_threadsafe(loop.stop)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stdout.write("PORT %d\n" % port)
    sys.stdout.flush()
    try:
        loop.run_forever()
    finally:
        server.close()
        events.close()


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls", choices=["starttls", "implicit"])
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--auth-user")
    ap.add_argument("--auth-pass")
    ap.add_argument("--require-starttls", action="store_true")
    ap.add_argument("--reject", choices=["rcpt", "data"])
    ap.add_argument("--drop", choices=["data", "stall"])
    args = ap.parse_args(argv)
    if args.tls and not (args.cert and args.key):
        ap.error("--tls needs --cert and --key")
    os.makedirs(args.dir, exist_ok=True)
    _serve(args)


if __name__ == "__main__":
    main()
