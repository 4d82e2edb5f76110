"""The installed pam_emailotp.so is one self-contained shared object."""

import os
import re
import stat
import subprocess

import pytest

from lib.env import module_path, module_dir

FORBIDDEN_NEEDED = re.compile(r"(Foundation|libswift|libdispatch|BlocksRuntime|_FoundationICU)")


@pytest.fixture(scope="module")
def so():
    p = module_path()
    if not os.path.exists(p):
        pytest.fail("%s is not installed" % p)
    return p


def run(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def dynamic(so):
    return run("readelf", "-d", "-W", so)


def test_installed_in_module_dir(so):
    assert os.path.dirname(so) == module_dir()
    assert os.path.exists(os.path.join(os.path.dirname(so), "pam_unix.so"))


def test_owned_by_root_not_writable_by_others(so):
    st = os.stat(so)
    assert st.st_uid == 0
    assert not (st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)), oct(st.st_mode)


def test_exports_only_pam_sm(so):
    """Exported = defined dynamic symbols with global binding (nm -D --defined-only
    shows global ones with an upper-case type letter; local-bound entries that the
    linker leaves in .dynsym cannot be bound to by anything)."""
    out = run("nm", "-D", "--defined-only", so)
    exported = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        kind, name = parts[-2], parts[-1]
        if kind.isupper() or kind in ("u", "v", "w"):   # global, unique or weak
            exported.append(name.split("@")[0])
    assert "pam_sm_authenticate" in exported
    assert "pam_sm_setcred" in exported
    others = [n for n in exported if not n.startswith("pam_sm_")]
    assert others == [], "exported besides pam_sm_*: %s" % others[:30]
    # the same through readelf's binding column
    dyn = run("readelf", "--dyn-syms", "-W", so)
    glob = [l.split()[7] for l in dyn.splitlines()
            if len(l.split()) >= 8 and l.split()[6] != "UND"
            and l.split()[4] in ("GLOBAL", "WEAK", "UNIQUE")]
    assert sorted(n.split("@")[0] for n in glob) == sorted(exported)


def test_no_swift_or_foundation_needed(so):
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic(so))
    assert needed, "no NEEDED entries?"
    bad = [n for n in needed if FORBIDDEN_NEEDED.search(n)]
    assert bad == [], bad


# Everything the module makes every sshd, sudo and su process load. libcurl, libcrypto,
# libstdc++ and libgcc_s are not here on purpose (docs/DESIGN.md, "Lazy loading"): libcurl and
# libcrypto are dlopen()ed by the paths that need them, the C++ runtime and the unwinder are
# linked in statically.
EXPECTED_NEEDED = {"libc.so.6", "libm.so.6", "libpam.so.0", "libcrypt.so.1", "ld-linux-*"}


def test_needed_is_exactly_the_small_set(so):
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic(so))
    # the dynamic loader's name depends on the architecture
    names = ["ld-linux-*" if n.startswith("ld-linux-") else n for n in needed]
    assert len(names) == len(set(names)), needed
    assert set(names) == EXPECTED_NEEDED, needed


def test_ldd_resolves_nothing_under_opt_swift(so):
    out = subprocess.run(["ldd", so], capture_output=True, text=True).stdout
    assert "not found" not in out, out
    assert "/opt/swift" not in out, out
    assert not FORBIDDEN_NEEDED.search(out), out


def test_no_runpath_into_toolchain(so):
    d = dynamic(so)
    paths = re.findall(r"\((?:RUNPATH|RPATH)\)\s+Library (?:runpath|rpath): \[([^\]]*)\]", d)
    assert not [p for p in paths if "/opt/swift" in p or "swift" in p.lower()], paths


def test_linked_nodelete(so):
    d = dynamic(so)
    m = re.search(r"\(FLAGS_1\)\s+Flags:(.*)", d)
    assert m, "no FLAGS_1 entry:\n" + d
    assert "NODELETE" in m.group(1).split(), m.group(0)


def test_relro_and_bind_now(so):
    """Read-only relocations (GNU_RELRO) and BIND_NOW, as Debian's hardening flags ask
    (lintian hardening-no-relro): the module is linked by lld, which keeps RELRO despite the
    writable .rodata of Swift objects (GNU ld drops it)."""
    segments = subprocess.run(["readelf", "-lW", so], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^\s*GNU_RELRO\s", segments, re.M), segments
    m = re.search(r"\(FLAGS_1\)\s+Flags:(.*)", dynamic(so))
    assert m and "NOW" in m.group(1).split(), m and m.group(0)


def test_dlopen_rtld_now(so):
    code = ("import ctypes, os, sys\n"
            "lib = ctypes.CDLL(sys.argv[1], mode=os.RTLD_NOW | os.RTLD_LOCAL)\n"
            "assert lib.pam_sm_authenticate and lib.pam_sm_setcred\n"
            "print('ok')\n")
    p = subprocess.run(["/usr/bin/python3", "-c", code, so], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr



ADMIN_TYPES = ["StackAudit", "SudoersRules", "SSHDConfigRules", "PAMStackReader", "LocalUsers",
               "PostgresSchema", "AuditReport", "TokenAdmin"]


def test_no_admin_code_in_the_module(so):
    """config-check's audit (EmailOTPAudit), the verbs' rules and store-init's DDL
    (EmailOTPAdmin) are linked only into emailotp: not even their type names (Swift metadata keeps them in a stripped object) are in
    the module that every sshd and sudo loads."""
    text = subprocess.run(["strings", "-a", so], capture_output=True, text=True, check=True).stdout
    found = [name for name in ADMIN_TYPES if name in text]
    assert found == [], "admin code linked into the module: %s" % found
