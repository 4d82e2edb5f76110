"""The getenv audit: every getenv/secure_getenv that pam_emailotp and the libraries it loads
make while the caller's environment is visible, recorded by an LD_PRELOAD interposer
(faultinject/getenv_audit.c) through a whole login of a setuid application (real uid not 0,
effective uid 0: the clean-process path) with the hostile caller's environment: one over SMTP
with STARTTLS, one against a PostgreSQL store. A name outside ALLOWED fails the test."""

import os
import pathlib
import subprocess

import pytest

import svc
from hostilecaller import Caller
from lib.mail import extract_code

pytestmark = pytest.mark.hostile

HERE = pathlib.Path(__file__).resolve().parent

# Reviewed names the module's side may read in the caller's process. The goal is none.
ALLOWED = set()

# Objects whose reads are not the module's: the application and the libraries it had already.
NOT_OURS = ("/pamrun", "/libpam.so", "/libpam_misc.so", "/libc.so", "/ld-linux", "getenv_audit.so",
            "/pam_permit.so", "/pam_rootok.so")


@pytest.fixture(scope="module")
def audit_library():
    import tempfile
    d = pathlib.Path(tempfile.mkdtemp(prefix="emailotp-getenv-audit-"))
    os.chmod(d, 0o755)
    out = d / "getenv_audit.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", "-o", str(out),
                    str(HERE.parent / "faultinject" / "getenv_audit.c"), "-ldl"], check=True)
    return str(out)


def audited_login(tmp_path, site, smtp, user, pamrun, audit_library, caller_env):
    """An interactive login (PIN, then the mailed code) through pamrun with real uid 65534 and
    the caller's environment; returns (pam result, {(name, object)} read by our side)."""
    confdir = tmp_path / "auditconf"
    confdir.mkdir(exist_ok=True)
    svc.write_file(confdir / "audit", "auth required %s config=%s\naccount required pam_permit.so\n"
                   % (site.module, site.config))
    log = tmp_path / "getenv.log"
    env = dict(caller_env)
    env.update(LD_PRELOAD=audit_library, GETENV_AUDIT_LOG=str(log))
    p = subprocess.Popen([pamrun, "--ruid", "65534", str(confdir), "audit", user, svc.PIN, "-"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, env=env)
    seen = []
    for line in p.stdout:
        seen.append(line)
        if line.startswith("Email code:") or line.startswith("Code sent to"):   # pamrun sets no PAM_TTY
            p.stdin.write(extract_code(smtp.messages()[-1]) + "\n")
            p.stdin.flush()
    rc = p.wait(timeout=120)
    reads = set()
    for line in log.read_text().splitlines() if log.exists() else []:
        pid, function, name, obj = line.split("\t")
        if name == "GETENV_AUDIT_LOG" or any(part in obj for part in NOT_OURS):
            continue
        reads.add((name, os.path.basename(obj)))
    return rc, reads, "".join(seen)


@pytest.fixture(params=["file-store", "postgresql"])
def audit_site(request, tmp_path, tls_smtp):
    """The test site (file store) or a host of the PostgreSQL fleet, mailing over STARTTLS."""
    if request.param == "file-store":
        return request.getfixturevalue("site")
    from lib.pgcluster import PGSite
    request.getfixturevalue("pg_schema")
    return PGSite(tmp_path, request.getfixturevalue("pg"), smtp=tls_smtp, keys={
        "resend_interval": 0, "max_mails_per_hour": 1000, "mail_tls": "starttls", "mail_ca_file": tls_smtp.ca_file})


def test_no_getenv_in_the_callers_process(tmp_path, audit_site, tls_smtp, users, pamrun, audit_library):
    user = users.create()
    audit_site.enroll(user.name, user.email, pin=svc.PIN)
    caller = Caller(tmp_path, user)
    try:
        rc, reads, seen = audited_login(tmp_path, audit_site, tls_smtp, user.name, pamrun, audit_library,
                                        caller.environment)
        assert rc == 0, seen
        assert len(svc.mails_to(tls_smtp, user.email)) == 1
        assert {name for name, _ in reads} <= ALLOWED, sorted(reads)
        caller.check_untouched()
    finally:
        caller.close()
