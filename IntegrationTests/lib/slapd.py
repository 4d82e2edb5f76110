"""A private OpenLDAP server (Debian's slapd) for the tests where addresses come from a
directory: its own config file and MDB database under a test directory, listening on a free
loopback port, started by the test and stopped (and removed with the directory) after it.

    with Slapd(tmp_path / "ldap") as ldap:
        ldap.add_person("alice", "alice@directory.test")
        ldap.search_mail("alice")          # -> "alice@directory.test"
        ldap.uri, ldap.base                # for an address_command that runs ldapsearch
"""

import os
import shutil
import socket
import subprocess
import time
from lib.procs import stop_process  # noqa: E402

SLAPD = "/usr/sbin/slapd"
SCHEMA = "/etc/ldap/schema"
MODULES = "/usr/lib/ldap"
SUFFIX = "dc=emailotp,dc=test"
PEOPLE = "ou=people," + SUFFIX
ROOT_DN = "cn=admin," + SUFFIX
ROOT_PW = "test-admin-secret"


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Slapd:
    def __init__(self, directory):
        self.dir = str(directory)
        self.port = _free_port()
        self.uri = "ldap://127.0.0.1:%d" % self.port
        self.base = PEOPLE
        self.proc = None

    def start(self):
        os.makedirs(os.path.join(self.dir, "db"), mode=0o700, exist_ok=True)
        self.conf = os.path.join(self.dir, "slapd.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join([
                "include %s/core.schema" % SCHEMA,
                "include %s/cosine.schema" % SCHEMA,
                "include %s/nis.schema" % SCHEMA,
                "include %s/inetorgperson.schema" % SCHEMA,
                "modulepath %s" % MODULES,
                "moduleload back_mdb",
                "pidfile %s/slapd.pid" % self.dir,
                "database mdb",
                "maxsize 10485760",
                "suffix \"%s\"" % SUFFIX,
                "rootdn \"%s\"" % ROOT_DN,
                "rootpw %s" % ROOT_PW,
                "directory %s/db" % self.dir,
                ""]))
        base = "\n".join([
            "dn: %s" % SUFFIX, "objectClass: dcObject", "objectClass: organization",
            "dc: emailotp", "o: emailotp tests", "",
            "dn: %s" % PEOPLE, "objectClass: organizationalUnit", "ou: people", "", ""])
        subprocess.run([SLAPD.replace("slapd", "slapadd"), "-f", self.conf, "-q"], input=base, text=True,
                       check=True, capture_output=True)
        self.proc = subprocess.Popen([SLAPD, "-d", "0", "-f", self.conf, "-h", self.uri + "/"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while True:
            probe = subprocess.run(["ldapsearch", "-x", "-LLL", "-H", self.uri, "-b", SUFFIX, "-s", "base", "dn"],
                                   capture_output=True, text=True)
            if probe.returncode == 0:
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("slapd exited: %s" % self.proc.stderr.read().decode(errors="replace"))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("slapd did not answer on %s" % self.uri)
            time.sleep(0.1)

    def add_person(self, uid, mail):
        ldif = "\n".join(["dn: uid=%s,%s" % (uid, PEOPLE), "objectClass: inetOrgPerson",
                          "uid: %s" % uid, "cn: %s" % uid, "sn: %s" % uid, "mail: %s" % mail, "", ""])
        subprocess.run(["ldapadd", "-x", "-H", self.uri, "-D", ROOT_DN, "-w", ROOT_PW], input=ldif, text=True,
                       check=True, capture_output=True)

    def search_mail(self, uid):
        out = subprocess.run(["ldapsearch", "-x", "-LLL", "-H", self.uri, "-b", PEOPLE, "(uid=%s)" % uid, "mail"],
                             capture_output=True, text=True, check=True).stdout
        return [line[len("mail: "):] for line in out.splitlines() if line.startswith("mail: ")]

    def address_command_script(self):
        """An address_command that asks this directory: the user's `mail`, one line; nothing
        (a failure) for a name that is not plain or not in the directory."""
        return "\n".join([
            "#!/bin/sh",
            "case \"$1\" in ''|*[!a-z0-9_.-]*) exit 2;; esac",
            "out=$(/usr/bin/ldapsearch -x -LLL -o ldif-wrap=no -H %s -b %s \"(uid=$1)\" mail) || exit 3" % (self.uri, PEOPLE),
            "mail=$(printf '%s\\n' \"$out\" | sed -n 's/^mail: //p')",
            "[ -n \"$mail\" ] || exit 1",
            "printf '%s\\n' \"$mail\"",
            ""])

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            stop_process(self.proc, 10)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
