"""The package builds from the tree (packaging/build-deb.sh: dpkg-buildpackage -us -uc -b on a
clean copy) and lintian passes with --fail-on error,warning; every override says why."""

import re
import subprocess

from pkgsupport import deb_version


def contents(deb):
    out = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        rows[parts[5].lstrip(".")] = (parts[0], parts[1])
    return rows


def test_lintian_passes(deb):
    p = subprocess.run(["lintian", "--fail-on", "error,warning", "--allow-root", deb],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert not re.search(r"^[EW]: ", p.stdout, re.M), p.stdout


def test_every_override_has_a_comment(deb):
    text = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], capture_output=True, check=True).stdout
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(text)) as t:
        member = t.extractfile("./usr/share/lintian/overrides/libpam-emailotp")
        lines = member.read().decode().splitlines()
    previous = ""
    for line in lines:
        if line and not line.startswith("#"):
            assert previous.startswith("#"), "override without a comment: %r" % line
        previous = line


def test_layout_modes_and_version(deb):
    rows = contents(deb)
    assert rows["/usr/lib/x86_64-linux-gnu/security/pam_emailotp.so"] == ("-rw-r--r--", "root/root")
    assert rows["/usr/sbin/emailotp"] == ("-rwxr-xr-x", "root/root")
    assert rows["/usr/libexec/emailotp-helper"] == ("-rwsr-xr-x", "root/root")
    assert rows["/etc/security/emailotp.conf"] == ("-rw-------", "root/root")
    for path in ("/usr/share/pam-configs/emailotp", "/etc/fail2ban/filter.d/pam-emailotp.conf",
                 "/usr/lib/systemd/system/emailotp-purge.timer", "/usr/lib/systemd/system/emailotp-metrics.timer",
                 "/usr/share/man/man8/pam_emailotp.8.gz", "/usr/share/man/man8/emailotp.8.gz",
                 "/usr/share/man/man5/emailotp.conf.5.gz",
                 "/usr/share/doc/libpam-emailotp/examples/sshd",
                 "/usr/share/doc/libpam-emailotp/examples/fail2ban/jail.local"):
        assert path in rows, path
    assert not [p for p in rows if p.startswith("/usr/local")]
    # Merged-/usr: nothing under the aliased /lib, /bin, /sbin (lintian 2.122: aliased-location).
    assert not [p for p in rows if re.match(r"/(lib|lib64|bin|sbin)/", p)], rows
    conffiles = subprocess.run(["dpkg-deb", "-I", deb, "conffiles"], capture_output=True, text=True).stdout.split()
    assert "/etc/security/emailotp.conf" in conffiles and "/etc/fail2ban/filter.d/pam-emailotp.conf" in conffiles
    assert "/etc/pam.d/emailotp" not in conffiles   # the maintainer scripts manage it (removed on remove)
    # debian/changelog's version is the product's (emailotp --version, System/Version.swift).
    import pathlib
    version_swift = pathlib.Path(__file__).resolve().parents[2] / "Sources/EmailOTPCore/System/Version.swift"
    current = re.search(r'current = "([^"]+)"', version_swift.read_text()).group(1)
    assert deb_version(deb).split("~")[0] == current, (deb_version(deb), current)


def test_compiled_in_paths_follow_the_layout(deb, tmp_path):
    subprocess.run(["dpkg-deb", "-x", deb, str(tmp_path)], check=True)
    for binary in ("usr/lib/x86_64-linux-gnu/security/pam_emailotp.so", "usr/sbin/emailotp", "usr/libexec/emailotp-helper"):
        strings = subprocess.run(["strings", str(tmp_path / binary)], capture_output=True, text=True).stdout
        assert "/usr/local/libexec/emailotp-helper" not in strings, binary
    module = subprocess.run(["strings", str(tmp_path / "usr/lib/x86_64-linux-gnu/security/pam_emailotp.so")],
                            capture_output=True, text=True).stdout.splitlines()
    assert "/usr/libexec/emailotp-helper" in module


def test_depends_names_what_the_module_dlopens(deb):
    fields = subprocess.run(["dpkg-deb", "-f", deb, "Depends", "Suggests"], capture_output=True, text=True).stdout
    depends = re.search(r"^Depends: (.*)$", fields, re.M).group(1)
    names = {d.split()[0] for d in depends.split(", ")}
    # libcurl.so.4 (CShim/shim/curl_loader.c) and libcrypto.so.3 (crypto_loader.c), which
    # dpkg-shlibdeps cannot see; libpam-runtime for pam-auth-update.
    assert {"libcurl4", "libssl3", "libpam-runtime", "libpam0g", "libc6"} <= names, depends
    # ...and the packages holding the sonames the loaders name are those.
    import pathlib
    include = pathlib.Path(__file__).resolve().parents[2] / "CShim" / "shim" / "include"
    for header in ("curl_loader.h", "crypto_loader.h"):
        soname = re.search(r'_SONAME "([^"]+)"', (include / header).read_text()).group(1)
        owner = subprocess.run(["dpkg-query", "-S", "/usr/lib/x86_64-linux-gnu/" + soname],
                               capture_output=True, text=True).stdout.split(":")[0]
        # Debian 13's libcurl4t64 and libssl3t64 own them and provide libcurl4 and libssl3.
        provides = subprocess.run(["dpkg-query", "-W", "-f=${Provides}", owner],
                                  capture_output=True, text=True).stdout
        provided = {p.split()[0] for p in provides.split(", ") if p.strip()}
        assert owner in names or provided & names, (soname, owner, provides, depends)
    assert "libpq5" in re.search(r"^Suggests: (.*)$", fields, re.M).group(1)


def test_every_elf_has_relro_and_bind_now(deb, tmp_path):
    """lld links all three (Package.swift): GNU ld drops RELRO for Swift's objects."""
    subprocess.run(["dpkg-deb", "-x", deb, str(tmp_path)], check=True)
    for binary in ("usr/lib/x86_64-linux-gnu/security/pam_emailotp.so", "usr/sbin/emailotp", "usr/libexec/emailotp-helper"):
        path = str(tmp_path / binary)
        segments = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True, check=True).stdout
        assert "GNU_RELRO" in segments, binary
        dynamic = subprocess.run(["readelf", "-dW", path], capture_output=True, text=True, check=True).stdout
        assert re.search(r"\(FLAGS\).*\bBIND_NOW\b|\(FLAGS_1\).*\bNOW\b", dynamic), (binary, dynamic)
