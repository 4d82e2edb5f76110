#!/usr/bin/python3
"""Hops from pam_sm_authenticate to the grant, configuration loads and Authenticators per login.

    sudo bench/hops.py [--module BUILD/libpam_emailotp.so] [--json PATH]

Run it as root after ./install.sh, inside /work/tools/sandbox (it adds a user). It measures the
installed emailotp command and helper (installed unstripped) and the module of the build
(default: .build/release/libpam_emailotp.so of this tree; the installed copy is stripped, and a
stack needs its symbols and debug information). Three logins of one enrolled user (file store,
codes mailed into a Maildir, the code answered from the mail), each a fresh bench/pamrun:

  interactive   pamrun CONFDIR svc USER PIN -     stack `auth required MODULE config=C`
                (root, real uid 0: the flow runs in the application's process)
  su            pamrun --ruid UID CONFDIR svc USER -     stack `... config=C pin=none` (the
                line of pam.d-examples/su): real uid not 0, euid 0 as in su, so the module
                runs the login in the clean process: a child that execs emailotp-helper
  su nullok     the same with `nullok`: the module answers "unenrolled?" in su's process
                first (the user is enrolled, so the login goes on in the helper)

each once under gdb (bench/hops_gdb.py, every process followed across fork and exec; nothing
stops) and once under `strace -f -e trace=openat`.

A hop is one Swift or C function of this project on the call stack, inlined ones included
(gdb reads the DWARF inline records), from the entry (the module: emailotp_authenticate,
which pam_sm_authenticate tail-calls; the helper: its main), not counted, down to the
function that writes the "granted" log line, counted. Not counted either: the log shim
(cshim_pam_syslog / cshim_syslog) and the logging frames under it (Authenticator.log, the
Logger), the Swift runtime and standard library, compiler thunks (reabstraction, partial
apply, outlined copies); a function on the stack twice counts once; closures count (a reader
follows them). su: the module's hops down to the caller of cshim_spawn (the start of the
helper) plus the helper's hops to the grant. Each path is printed.

Configuration loads: openat() calls of the configuration file per process (strace).
Authenticators: calls of Authenticator.init per process (a gdb breakpoint on every copy,
inlined ones too). Takes about 20 s on 2 cores (after the build and install).
"""
import argparse
import json
import os
import pathlib
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "IntegrationTests"))
from lib.mail import extract_code  # noqa: E402

PIN = "hops-PIN-2026"
OURS = ("EmailOTP", "PAMModule", "emailotp_helper", "CShim", "CPAM", "CHelper")
THUNK = re.compile(r"thunk|partial apply|outlined |merged |^__swift|^swift_")
DEMANGLE = shutil.which("swift-demangle") or "/opt/swift/usr/bin/swift-demangle"


def demangle(names, simplified):
    argv = [DEMANGLE] + (["--simplified"] if simplified else [])
    out = subprocess.run(argv, input="\n".join(names) + "\n", capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def strip_specialisation(name):
    """`specialized X` / `generic specialization <...> of X` / `... signature specialization <...> of X` -> X"""
    while True:
        if name.startswith("specialized "):
            name = name[len("specialized "):]
            continue
        m = re.match(r"(?:generic |function signature |)specialization <", name)
        if not m:
            return name
        depth, i = 0, m.end() - 1
        while i < len(name):
            depth += {"<": 1, ">": -1}.get(name[i], 0)
            i += 1
            if depth == 0:
                break
        name = name[i:]
        name = name[len(" of "):] if name.startswith(" of ") else name


def ours(full):
    """Whether a frame (its full demangled name) is this project's code, and not a thunk."""
    if THUNK.search(full):
        return False
    name = strip_specialisation(full)
    closure = re.match(r"(?:(?:implicit )?closure #\d+ (?:\([^)]*\) )?in )+(.*)", name)
    if closure:
        name = closure.group(1)
    name = strip_specialisation(name)
    if name.startswith("(extension in "):
        name = name[len("(extension in "):]
    if not name.startswith("$") and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        return True  # a C function of the shim (pam_sm_authenticate, main, cshim_*)
    return name.startswith(OURS) or re.match(r"(static )?(\w+\.)?(EmailOTP|PAMModule|emailotp_helper)", name) is not None


LOGGING = re.compile(r"(^|\.)log\(|Logger|syslog")


def path(frames, entry_object):
    """The hops of a stack recorded at a shim (cshim_pam_syslog, cshim_syslog, cshim_spawn),
    innermost first: (entry, [(name, inlined, where)], outermost first). The shim itself and
    the logging frames under it (Authenticator.log, the Logger, the session's log) are not
    hops; the entry is the outermost frame in ENTRY_OBJECT (the module: emailotp_authenticate,
    which pam_sm_authenticate tail-calls; the helper: its main), itself not counted; a
    function is counted once however many of its frames (closures of the same function's
    scopes excepted) the stack holds."""
    if not frames:
        return None
    names = [f["name"] for f in frames]
    full = demangle(names, simplified=False)
    short = demangle(names, simplified=True)
    rows = list(zip(frames, full, short))[1:]
    while rows and LOGGING.search(rows[0][2]):
        rows.pop(0)
    inside = [i for i, (fr, f, s) in enumerate(rows) if fr["object"] == entry_object]
    if not inside:
        return None
    rows = rows[:inside[-1] + 1]
    entry = rows.pop()
    seen, hops = set(), []
    for fr, f, s in reversed(rows):
        if not ours(f) or s in seen:
            continue
        seen.add(s)
        hops.append((s, fr["inline"], fr["where"]))
    return entry[2], hops


def show(title, found):
    if found is None:
        print("%s: the stack was not recorded" % title)
        return 0
    entry, hops = found
    print("%s: %d hops" % (title, len(hops)))
    print("   0 %s" % entry)
    for n, (name, inline, where) in enumerate(hops, 1):
        print("  %2d %s%s%s" % (n, name, "  [inlined]" if inline else "", "  (%s)" % where if where else ""))
    return len(hops)


class MailAnswer(threading.Thread):
    """Writes the code of the first mail that arrives in MAILDIR/new into the FIFO SINK."""

    def __init__(self, maildir, sink, alive):
        super().__init__(daemon=True)
        self.maildir, self.sink, self.alive = pathlib.Path(maildir) / "new", sink, alive
        self.before = set(os.listdir(self.maildir)) if self.maildir.exists() else set()

    def run(self):
        sink = open(self.sink, "wb")  # blocks until the login opens it
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and self.alive():
            new = set(os.listdir(self.maildir)) - self.before if self.maildir.exists() else set()
            if new:
                time.sleep(0.05)
                code = extract_code((self.maildir / sorted(new)[0]).read_bytes())
                try:
                    sink.write((code + "\n").encode())
                    sink.close()
                except BrokenPipeError:
                    pass
                return
            time.sleep(0.05)


def login(argv, maildir, env, fifo):
    """Runs ARGV, which reads pamrun's answer "-" from FIFO, and writes there the code mailed
    meanwhile: (exit status, output)."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    answer = MailAnswer(maildir, fifo, lambda: proc.poll() is None)
    answer.start()
    out, _ = proc.communicate(timeout=600)
    answer.join(5)
    return proc.returncode, out.decode(errors="replace")


def linkage_names(binary, pattern):
    """Linkage names in BINARY's symbol table matching PATTERN (after demangling)."""
    syms = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True).stdout.split("\n")
    names = sorted({line.split()[-1] for line in syms if line.strip() and line.split()[-1].startswith("$s")})
    full = demangle(names, simplified=False)
    return [n for n, f in zip(names, full) if re.search(pattern, f)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", default=str(ROOT / ".build/release/libpam_emailotp.so"))
    parser.add_argument("--helper", default="/usr/local/libexec/emailotp-helper")
    parser.add_argument("--emailotp", default="/usr/local/sbin/emailotp")
    parser.add_argument("--json", help="write the figures to this file too")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (gdb's records)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("hops: run as root, inside /work/tools/sandbox, after ./install.sh")
    module = os.path.realpath(args.module)
    work = pathlib.Path(tempfile.mkdtemp(prefix="emailotp-hops."))
    os.chmod(work, 0o755)
    user = "eotph_" + secrets.token_hex(3)
    try:
        return measure(args, module, work, user)
    finally:
        subprocess.run(["userdel", user], stderr=subprocess.DEVNULL)
        if args.keep:
            print("hops: kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)


def measure(args, module, work, user):
    subprocess.run(["useradd", "-M", "-s", "/usr/sbin/nologin", user], check=True)
    uid = int(subprocess.run(["id", "-u", user], capture_output=True, text=True, check=True).stdout)
    pamrun = str(work / "pamrun")
    subprocess.run(["cc", "-O2", "-g", "-o", pamrun, str(HERE / "pamrun.c"), "-lpam"], check=True)
    store = work / "store"
    store.mkdir(mode=0o700)
    maildir = work / "maildir"
    config = work / "emailotp.conf"
    config.write_text("store = %s\nmail_sender = bench@example.org\nmail_transport = maildir:%s\n"
                      "resend_interval = 0\nmax_mails_per_hour = 1000\n" % (store, maildir))
    os.chmod(config, 0o600)
    subprocess.run([args.emailotp, "enroll", "--config", str(config), "--store", str(store), user,
                    "--email", "%s@example.org" % user, "--pin-stdin"], input=PIN + "\n", text=True,
                   check=True, capture_output=True)
    confdir = work / "pam.d"
    confdir.mkdir()
    (confdir / "interactive").write_text("auth required %s config=%s\n" % (module, config))
    (confdir / "su").write_text("auth required %s config=%s pin=none\n" % (module, config))
    (confdir / "su-nullok").write_text("auth required %s config=%s pin=none nullok\n" % (module, config))
    runs = {
        "interactive": [pamrun, str(confdir), "interactive", user, PIN, "-"],
        "su": [pamrun, "--ruid", str(uid), str(confdir), "su", user, "-"],
        "su nullok": [pamrun, "--ruid", str(uid), str(confdir), "su-nullok", user, "-"],
    }
    authenticator_inits = (linkage_names(module, r"^EmailOTP\w*\.Authenticator\.init\(") +
                           linkage_names(args.helper, r"^EmailOTP\w*\.Authenticator\.init\("))
    if not authenticator_inits:
        print("hops: no Authenticator.init in %s or %s: the Authenticators are not counted" % (module, args.helper))
    figures = {"module": module}
    for case, argv in runs.items():
        out = work / ("%s.jsonl" % case.replace(" ", "-"))
        fifo = work / ("%s.stdin" % case.replace(" ", "-"))
        os.mkfifo(fifo)
        env = dict(os.environ, HOPS_OUT=str(out), HOPS_STDIN=str(fifo), HOPS_ARGV=json.dumps(argv),
                   HOPS_COUNT=",".join(sorted(set(authenticator_inits))))
        rc, text = login(["gdb", "-nx", "-batch", "-iex", "set complaints 0", "-x", str(HERE / "hops_gdb.py")],
                         maildir, env, fifo)
        entries = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
        # the grant's log line: the module's (cshim_pam_syslog) in the application's process,
        # the helper's (cshim_syslog) through the clean process
        shim = "cshim_pam_syslog" if case == "interactive" else "cshim_syslog"
        grants = [e for e in entries if e["kind"] == "grant" and e["frames"][0]["name"] == shim]
        if not grants:
            print(text)
            raise SystemExit("hops: %s: no grant logged through %s (gdb exited %d)" % (case, shim, rc))
        grant = grants[-1]
        print("== %s (%s)" % (case, " ".join(argv[1:])))
        print("   grant logged: %r" % grant["message"])
        if case == "interactive":
            hops = path(grant["frames"], module)
            total = show("pam_sm_authenticate -> grant", hops)
        else:
            spawn = [e for e in entries if e["kind"] == "spawn"]
            module_hops = path(spawn[0]["frames"], module) if spawn else None
            helper_hops = path(grant["frames"], grant["frames"][0]["object"])
            total = show("module: pam_sm_authenticate -> cshim_spawn (the helper)", module_hops) + \
                show("helper: main -> grant", helper_hops)
            print("su, module + helper: %d hops" % total)
        inits = {}
        for e in entries:
            if e["kind"] == "count":
                program = os.path.basename(e["program"])
                inits[program] = inits.get(program, 0) + e["calls"]
        figures[case] = {"hops": total, "authenticators": inits}
        # the configuration file's opens, per process
        trace = work / ("%s.strace" % case.replace(" ", "-"))
        fifo = work / ("%s.strace.stdin" % case.replace(" ", "-"))
        os.mkfifo(fifo)
        rc, text = login(["strace", "-f", "-qq", "-e", "trace=openat,execve", "-o", str(trace), "sh", "-c",
                          'exec "$@" < "$0"', str(fifo)] + argv, maildir, dict(os.environ), fifo)
        if rc != 0:
            print(text)
            raise SystemExit("hops: %s: the login under strace failed (%d)" % (case, rc))
        loads = config_loads(trace.read_text(), str(config))
        figures[case]["config_loads"] = loads
        print("   configuration loads (openat of %s) per process: %s; total %d" % (config.name, loads, sum(loads.values())))
        if authenticator_inits:
            print("   Authenticator.init calls per process: %s; total %d" % (inits or "{}", sum(inits.values())))
        print()
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")


def config_loads(trace, config):
    """openat() of CONFIG per process of an `strace -f` log, keyed by the program it ran then."""
    program, loads = {}, {}
    for line in trace.splitlines():
        m = re.match(r"(\d+)\s+(.*)", line)
        if not m:
            continue
        pid, call = m.groups()
        e = re.match(r'execve\("([^"]+)"', call)
        if e and "= 0" in call.rsplit(")", 1)[-1]:
            program[pid] = os.path.basename(e.group(1))
        if call.startswith("openat(") and '"%s"' % config in call and not re.search(r"= -1", call):
            name = program.get(pid, "pamrun")
            loads[name] = loads.get(name, 0) + 1
    return loads


if __name__ == "__main__":
    main()
