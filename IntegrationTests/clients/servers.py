"""The real servers of the client tests, each with its own configuration in a
test directory, started inside a sandbox.Namespace and stopped with it."""

import os
import select
import socket
import subprocess
import time


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_file(path, needle, timeout=60, proc=None):
    """Waits until `needle` appears in the file at `path`; False on timeout or
    when `proc` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                if needle in f.read():
                    return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def read(path):
    if not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        return f.read()



def _listening(proc, port, seconds=30):
    """Waits until a server accepts connections on the loopback port: True, or False when it
    exited or did not listen within `seconds` (polling: a daemon started with -F says nothing)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            if proc.poll() is not None:
                return False
            time.sleep(0.1)
    return False

class Dovecot:
    """dovecot -F with its own config: IMAP on a free loopback port, passdb pam
    with SERVICE, a static userdb (token users need no Unix account)."""

    def __init__(self, directory, service, extra=""):
        self.dir = str(directory)
        os.makedirs(self.dir, mode=0o755, exist_ok=True)
        self.port = free_port()
        self.log = os.path.join(self.dir, "dovecot.log")
        home = os.path.join(self.dir, "home")
        os.makedirs(home, mode=0o777, exist_ok=True)
        os.chmod(home, 0o1777)
        self.config = os.path.join(self.dir, "dovecot.conf")
        with open(self.config, "w") as f:
            f.write("\n".join([
                "base_dir = %s/run" % self.dir,
                "state_dir = %s/state" % self.dir,
                "instance_name = eoc-%d" % self.port,
                "protocols = imap",
                "listen = 127.0.0.1",
                "ssl = no",
                "disable_plaintext_auth = no",
                "auth_mechanisms = plain login",
                "log_path = %s" % self.log,
                "auth_verbose = yes",
                "first_valid_uid = 1",
                "mail_location = maildir:%s/%%u" % home,
                "service imap-login {",
                "  inet_listener imap {",
                "    address = 127.0.0.1",
                "    port = %d" % self.port,
                "  }",
                "  inet_listener imaps {",
                "    port = 0",
                "  }",
                "}",
                "passdb {",
                "  driver = pam",
                "  args = %s" % service,
                "}",
                "userdb {",
                "  driver = static",
                "  args = uid=nobody gid=nogroup home=%s/%%u" % home,
                "}",
                extra,
                ""]))
        self.proc = None

    def start(self, ns):
        self.proc = ns.popen(["/usr/sbin/dovecot", "-F", "-c", self.config],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.dir, "stderr"), "wb"))
        if _listening(self.proc, self.port):
            return self
        raise RuntimeError("dovecot did not start:\n%s\n%s" % (
            read(os.path.join(self.dir, "stderr")), read(self.log)))

    def login(self, user, password):
        """One IMAP connection: (True, text) for OK, (False, text) for NO."""
        import imaplib
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=60)
        try:
            typ, data = conn.login(user, password)
            conn.logout()
            return True, " ".join(d.decode(errors="replace") for d in data)
        except imaplib.IMAP4.error as e:
            return False, str(e)
        finally:
            try:
                conn.shutdown()
            except OSError:
                pass


def make_vpn_certificates(directory):
    """A throw-away CA and a server certificate (EC P-256) made with openssl;
    the server certificate has the serverAuth usage that remote-cert-tls checks."""
    d = str(directory)
    os.makedirs(d, mode=0o700, exist_ok=True)

    def run(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=eoc-test-ca")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=eoc-vpn-server")
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyAgreement\n"
                "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext")
    return {name: os.path.join(d, name) for name in ("ca.crt", "server.crt", "server.key")}


AUTH_PAM_PLUGIN = "/usr/lib/x86_64-linux-gnu/openvpn/plugins/openvpn-plugin-auth-pam.so"


class OpenVPN:
    """An OpenVPN server (udp, dev tun, auth-pam plugin with SERVICE) and its
    clients, all in one private network namespace."""

    def __init__(self, directory, service, server_extra=(), client_extra=()):
        self.dir = str(directory)
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.port = free_port(socket.SOCK_DGRAM)
        self.certs = make_vpn_certificates(os.path.join(self.dir, "pki"))
        self.server_log = os.path.join(self.dir, "server.log")
        self.server_config = self._write("server.conf", [
            "local 127.0.0.1", "port %d" % self.port, "proto udp", "dev tun", "topology subnet",
            "server 10.213.0.0 255.255.255.0",
            "ca %s" % self.certs["ca.crt"], "cert %s" % self.certs["server.crt"],
            "key %s" % self.certs["server.key"], "dh none", "keepalive 10 60",
            "verify-client-cert none", "username-as-common-name",
            "plugin %s %s" % (AUTH_PAM_PLUGIN, service),
            "verb 4", "log %s" % self.server_log] + list(server_extra))
        self.client_extra = list(client_extra)
        self.server = None
        self.clients = 0

    def _write(self, name, lines):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(path, 0o600)
        return path

    def start(self, ns):
        self.ns = ns
        self.server = ns.popen(["/usr/sbin/openvpn", "--config", self.server_config],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        if not wait_file(self.server_log, "Initialization Sequence Completed", 30, self.server):
            raise RuntimeError("openvpn server did not start:\n" + read(self.server_log))
        return self

    def connect(self, user, password):
        """Starts a client; returns (Popen, its log path). The client ends by
        itself on AUTH_FAILED."""
        self.clients += 1
        log = os.path.join(self.dir, "client%d.log" % self.clients)
        creds = self._write("client%d.pass" % self.clients, [user, password])
        config = self._write("client%d.conf" % self.clients, [
            "client", "dev tun", "proto udp", "remote 127.0.0.1 %d" % self.port, "nobind",
            "remote-cert-tls server", "ca %s" % self.certs["ca.crt"],
            "auth-user-pass %s" % creds, "verb 4", "log %s" % log] + self.client_extra)
        proc = self.ns.popen(["/usr/sbin/openvpn", "--config", config],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        return proc, log


class Nginx:
    """nginx with libnginx-mod-http-auth-pam: `location /` behind auth_pam with
    SERVICE, workers as www-data (the module runs the setuid helper there)."""

    def __init__(self, directory, service):
        self.dir = str(directory)
        os.makedirs(os.path.join(self.dir, "www"), mode=0o755, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "tmp"), mode=0o755, exist_ok=True)
        os.chmod(self.dir, 0o755)
        with open(os.path.join(self.dir, "www", "index.html"), "w") as f:
            f.write("eoc-secret-page\n")
        self.port = free_port()
        self.error_log = os.path.join(self.dir, "error.log")
        tmp = os.path.join(self.dir, "tmp")
        self.config = os.path.join(self.dir, "nginx.conf")
        with open(self.config, "w") as f:
            f.write("\n".join([
                "load_module /usr/lib/nginx/modules/ngx_http_auth_pam_module.so;",
                "daemon off;",
                "user www-data;",
                "worker_processes 1;",
                "pid %s/nginx.pid;" % self.dir,
                "error_log %s info;" % self.error_log,
                "events { worker_connections 64; }",
                "http {",
                "  access_log %s/access.log;" % self.dir,
                "  client_body_temp_path %s/body;" % tmp,
                "  proxy_temp_path %s/proxy;" % tmp,
                "  fastcgi_temp_path %s/fastcgi;" % tmp,
                "  uwsgi_temp_path %s/uwsgi;" % tmp,
                "  scgi_temp_path %s/scgi;" % tmp,
                "  server {",
                "    listen 127.0.0.1:%d;" % self.port,
                "    root %s/www;" % self.dir,
                "    index index.html;",
                "    location / {",
                '      auth_pam "eoc";',
                '      auth_pam_service_name "%s";' % service,
                "    }",
                "  }",
                "}", ""]))
        self.proc = None

    def start(self, ns):
        self.proc = ns.popen(["/usr/sbin/nginx", "-p", self.dir, "-e", self.error_log,
                              "-c", self.config],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.dir, "stderr"), "wb"))
        if _listening(self.proc, self.port):
            return self
        raise RuntimeError("nginx did not start:\n%s\n%s" % (
            read(os.path.join(self.dir, "stderr")), read(self.error_log)))

    def get(self, user, password, path="/"):
        """(HTTP status, body) of one request with Basic credentials."""
        import base64
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        conn.request("GET", path, headers={"Authorization": "Basic " + token})
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
        conn.close()
        return response.status, body


class Vsftpd:
    """vsftpd 3.0 in the foreground (listen=YES, background=NO) on a loopback port, local
    users only, PAM service SERVICE."""

    def __init__(self, directory, service):
        self.dir = str(directory)
        os.makedirs(self.dir, mode=0o755, exist_ok=True)
        empty = os.path.join(self.dir, "empty")
        os.makedirs(empty, mode=0o555, exist_ok=True)
        self.port = free_port()
        self.log = os.path.join(self.dir, "vsftpd.log")
        self.config = os.path.join(self.dir, "vsftpd.conf")
        with open(self.config, "w") as f:
            f.write("\n".join([
                "listen=YES", "listen_ipv6=NO", "background=NO",
                "listen_address=127.0.0.1", "listen_port=%d" % self.port,
                "anonymous_enable=NO", "local_enable=YES", "write_enable=NO",
                "pam_service_name=%s" % service,
                "secure_chroot_dir=%s" % empty,
                "pasv_enable=YES", "pasv_address=127.0.0.1",
                "xferlog_enable=NO", "vsftpd_log_file=%s" % self.log, "dual_log_enable=YES",
                "log_ftp_protocol=YES", "seccomp_sandbox=NO", ""]))
        os.chmod(self.config, 0o600)
        self.proc = None

    def start(self, ns):
        self.proc = ns.popen(["/usr/sbin/vsftpd", self.config], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(self.dir, "stderr"), "wb"))
        if _listening(self.proc, self.port):
            return self
        raise RuntimeError("vsftpd did not start:\n%s" % read(os.path.join(self.dir, "stderr")))

    def login(self, user, password):
        """One FTP connection (ftplib): (True, "230 ...") or (False, "530 ...")."""
        import ftplib
        conn = ftplib.FTP()
        conn.connect("127.0.0.1", self.port, timeout=60)
        try:
            reply = conn.login(user, password)
            conn.quit()
            return True, reply
        except ftplib.error_perm as e:
            return False, str(e)
        finally:
            conn.close()


class FreeRADIUS:
    """radiusd -X (FreeRADIUS 3.2) with a copy of Debian's /etc/freeradius/3.0: one virtual
    server on a loopback UDP port whose authenticate section is rlm_pam with SERVICE, every
    user `Auth-Type := PAM`. It runs as freerad, so the module goes through the setuid helper."""

    SOURCE = "/etc/freeradius/3.0"
    SECRET = "testing123"

    def __init__(self, directory, service):
        import shutil
        self.dir = str(directory)
        os.makedirs(self.dir, mode=0o755, exist_ok=True)
        self.raddb = os.path.join(self.dir, "raddb")
        shutil.copytree(self.SOURCE, self.raddb, symlinks=True)
        for name in os.listdir(os.path.join(self.raddb, "sites-enabled")):
            os.unlink(os.path.join(self.raddb, "sites-enabled", name))
        for name in ("eap",):
            if os.path.lexists(os.path.join(self.raddb, "mods-enabled", name)):
                os.unlink(os.path.join(self.raddb, "mods-enabled", name))
        self.port = free_port(socket.SOCK_DGRAM)
        with open(os.path.join(self.raddb, "mods-enabled", "pam"), "w") as f:
            f.write("pam {\n\tpam_auth = %s\n}\n" % service)
        with open(os.path.join(self.raddb, "sites-enabled", "eoc"), "w") as f:
            f.write("\n".join([
                "server eoc {",
                "  listen {", "    type = auth", "    ipaddr = 127.0.0.1", "    port = %d" % self.port, "  }",
                "  authorize {", "    files", "  }",
                "  authenticate {", "    Auth-Type PAM {", "      pam", "    }", "  }",
                "}", ""]))
        authorize = os.path.join(self.raddb, "mods-config", "files", "authorize")
        with open(authorize, "w") as f:
            f.write("DEFAULT Auth-Type := PAM\n")
        subprocess.run(["chown", "-R", "freerad:freerad", self.raddb], check=True)
        self.log = os.path.join(self.dir, "radiusd.log")
        self.proc = None

    def start(self, ns):
        self.proc = ns.popen(["/usr/sbin/freeradius", "-X", "-f", "-d", self.raddb],
                             stdin=subprocess.DEVNULL, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        if wait_file(self.log, "Ready to process requests", 60, self.proc):
            return self
        raise RuntimeError("radiusd did not start:\n" + read(self.log))

    def radtest(self, user, password):
        """radtest through the loopback port: (accepted, its output)."""
        p = subprocess.run(["radtest", "-t", "pap", user, password, "127.0.0.1:%d" % self.port, "0", self.SECRET],
                           capture_output=True, text=True, timeout=60)
        out = p.stdout + p.stderr
        if "Received Access-Accept" in out:
            return True, out
        assert "Received Access-Reject" in out, "radtest got no answer:\n" + out
        return False, out
