"""libcurl and libcrypto are loaded by the paths that need them, not with the module
(docs/DESIGN.md, "Lazy loading").

Each transaction runs in a fresh python3 process (CHILD below) that reports which of the
lazily loaded libraries its /proc/self/maps holds before and after pam_authenticate: the
pytest process itself may have libcrypto mapped already.  The missing-libcurl cases run in a
private mount namespace where /dev/null is bind-mounted over the real libcurl, so dlopen
fails for real.
"""

import json
import os
import subprocess

from lib.env import DEFAULT_PIN, ALICE, ALICE_EMAIL, module_dir

HERE = os.path.dirname(os.path.abspath(__file__))
LAZY = ("libcurl.so", "libcrypto.so", "libstdc++.so")

# argv: stack file, user, PIN or "", mail directory of the SMTP capture or "", libcurl to hide or ""
CHILD = r"""
import json, os, subprocess, sys
sys.path.insert(0, %(here)r)
stack_file, user, pin, maildir, hide = sys.argv[1:6]
if hide:
    subprocess.run(["mount", "--bind", "/dev/null", hide], check=True)
from lib.pamdriver import authenticate
from lib.mail import extract_code

def mapped():
    with open("/proc/self/maps") as f:
        text = f.read()
    return sorted({name for name in %(lazy)r if name in text})

def answer(style, text):
    if text == "PIN: ":
        return pin
    if text == "Email code: ":
        # NNNN.eml from the SMTP capture, or any file in a Maildir's new/
        mails = [os.path.join(maildir, n) for n in os.listdir(maildir)
                 if not n.startswith(".") and not n.endswith((".json", ".tmp"))]
        mails.sort(key=os.path.getmtime)
        return extract_code(mails[-1]) if mails else None
    return None

before = mapped()
res = authenticate(user, open(stack_file).read(), answer, fork=False)
print(json.dumps({"before": before, "after": mapped(), "rc": res.rc,
                  "messages": [m.text for m in res.transcript]}))
""" % {"here": HERE, "lazy": LAZY}


def libcurl_path():
    """The file dlopen("libcurl.so.4") opens: the one next to the PAM module directory."""
    path = os.path.realpath(os.path.join(os.path.dirname(module_dir()), "libcurl.so.4"))
    assert os.path.isfile(path), path
    return path


def run_child(site, user, pin="", args="", hide_libcurl=False, extra_after=()):
    stack_file = site.dir / "stack"
    stack_file.write_text(site.stack(args, extra_after=extra_after))
    maildir = str(site.smtp.directory) if site.smtp is not None else ""
    argv = ["/usr/bin/python3", "-c", CHILD, str(stack_file), user, pin, maildir,
            libcurl_path() if hide_libcurl else ""]
    if hide_libcurl:
        argv = ["unshare", "--mount", "--propagation", "private", "--"] + argv
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=HERE)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_unenrolled_nullok_loads_neither_libcurl_nor_libcrypto(site):
    out = run_child(site, "nobody-enrolled", args="nullok pin=none",
                    extra_after=("auth required pam_permit.so",))
    assert out["rc"] == 0, out          # PAM_IGNORE, then pam_permit
    assert out["before"] == [], out
    assert out["after"] == [], out


def test_smtp_login_loads_libcurl_and_delivers(site, smtp, alice):
    out = run_child(site, ALICE, DEFAULT_PIN)
    assert out["rc"] == 0, out
    assert out["before"] == [], out
    assert "libcurl.so" in out["after"] and "libcrypto.so" in out["after"], out
    assert "libstdc++.so" not in out["after"], out   # linked in statically
    assert smtp.count() == 1
    assert smtp.envelopes()[0]["rcpt_tos"] == [ALICE_EMAIL]


def test_maildir_login_does_not_load_libcurl(site, tmp_path, alice):
    maildir = tmp_path / "maildir"
    site.write_config(mail_transport="maildir:%s" % maildir, mail_server=None, mail_port=None)
    site.smtp = None
    stack_file = site.dir / "stack"
    stack_file.write_text(site.stack())
    # the code is read from the Maildir's new/ directory
    argv = ["/usr/bin/python3", "-c", CHILD, str(stack_file), ALICE, DEFAULT_PIN,
            str(maildir / "new"), ""]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=HERE)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["rc"] == 0, out
    assert "libcurl.so" not in out["after"], out


def test_wrong_pin_loads_libcrypto_only(site, smtp, alice):
    # the first login makes the store's hmac.key (random bytes: libcrypto), in its own process.
    # A wrong PIN is counted for its source too, under a keyed id (HMAC-SHA-256: libcrypto),
    # whether or not the name has a token; it sends nothing, so libcurl stays out.
    assert run_child(site, ALICE, DEFAULT_PIN)["rc"] == 0
    out = run_child(site, ALICE, "not-the-PIN")
    assert out["rc"] == 7, out          # PAM_AUTH_ERR
    assert out["after"] == ["libcrypto.so"], out
    assert site.read_record(ALICE)["fail_count"] == "1"
    assert smtp.count() == 1


def test_missing_libcurl_is_authinfo_unavail_and_leaves_no_code(site, smtp, alice):
    out = run_child(site, ALICE, DEFAULT_PIN, hide_libcurl=True)
    assert out["rc"] == 9, out          # PAM_AUTHINFO_UNAVAIL
    assert any("could not be sent" in m for m in out["messages"]), out
    assert smtp.count() == 0
    assert site.challenges(ALICE) == []  # the challenge opened for the mail was dropped


def test_missing_libcurl_is_named_by_send_test(site, smtp):
    argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
            'mount --bind /dev/null "$1" && shift && exec "$@"', "sh", libcurl_path()] + \
        site.cli_argv("send-test", "someone@example.org")
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "libcurl.so.4" in p.stderr, p.stderr
    assert smtp.count() == 0
