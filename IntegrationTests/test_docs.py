"""Documentation checks: man pages, the shipped configuration, the pam-auth-update profile.

Runs without the module being built or installed:
    /usr/bin/python3 -m pytest IntegrationTests/test_docs.py
Needs man-db and groff-base (both present on Debian 12 with man-db installed).
"""

import gzip
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lib.env import MANDIR

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "DESIGN.md"
MAN = ROOT / "man"
PAGES = {
    "pam_emailotp.8": MAN / "pam_emailotp.8",
    "emailotp.8": MAN / "emailotp.8",
    "emailotp.conf.5": MAN / "emailotp.conf.5",
}
CONF = ROOT / "etc" / "emailotp.conf"
PROFILE = ROOT / "pam-configs" / "emailotp"

INSTALLED_MAN = {
    "pam_emailotp.8": Path(MANDIR, "man8/pam_emailotp.8"),
    "emailotp.8": Path(MANDIR, "man8/emailotp.8"),
    "emailotp.conf.5": Path(MANDIR, "man5/emailotp.conf.5"),
}
INSTALLED_PROFILE = Path("/usr/share/pam-configs/emailotp")

# The one list of configuration keys is the table in ConfigKeys.swift; DESIGN.md, the man page
# and etc/emailotp.conf are checked against it.
CONFIG_KEYS_SWIFT = ROOT / "Sources" / "EmailOTPCore" / "Config" / "ConfigKeys.swift"


def source_keys() -> list:
    """The key names of ConfigKeys.table, in order."""
    return re.findall(r'^\s*ConfigKey\("([a-z_]+)"\)', CONFIG_KEYS_SWIFT.read_text(encoding="utf-8"), re.M)

# emailotp(8): verbs and their options.
VERBS = [
    "enroll", "list", "show", "set-pin", "set-email", "disable", "enable",
    "reset", "delete", "challenges", "purge", "check", "send-test",
    "config-check", "demo", "store-init", "migrate", "recovery-codes", "forget",
]
CLI_OPTIONS = [
    "--email", "--pin-stdin", "--no-pin", "--verify", "--json",
    "--transaction-id", "--config", "--store", "--from", "--role", "--password-file", "--count",
    "--login-defs", "--cockpit-conf",
]

PLACEHOLDERS = [
    "{otp}", "{user}", "{host}", "{service}", "{validity}", "{expires}",
    "{transaction_id}", "{rhost}", "{first_factor}",
]

ENV = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")


# ---------------------------------------------------------------- helpers

def design_section(title: str) -> str:
    text = DESIGN.read_text(encoding="utf-8")
    m = re.search(r"^## " + re.escape(title) + r".*?$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"DESIGN.md has no section {title!r}"
    return m.group(1)


def design_keys() -> dict:
    """Map key -> its parenthesised note in DESIGN.md ('' when none)."""
    section = design_section("Configuration keys")
    para = section.strip().split("\n\n")[0]
    para = " ".join(para.split())
    keys = {}
    # Walk the paragraph: a key is a back-quoted name outside parentheses.
    depth = 0
    i = 0
    last = None
    while i < len(para):
        c = para[i]
        if c == "(":
            depth += 1
            start = i
            # find the matching parenthesis
            j = i + 1
            while j < len(para) and depth:
                if para[j] == "(":
                    depth += 1
                elif para[j] == ")":
                    depth -= 1
                j += 1
            if last is not None and not keys[last]:
                keys[last] = para[start + 1:j - 1]
            i = j
            continue
        if c == "`":
            j = para.index("`", i + 1)
            word = para[i + 1:j]
            if re.fullmatch(r"[a-z][a-z_]*", word):
                keys[word] = ""
                last = word
            i = j + 1
            continue
        i += 1
    return keys


def design_module_args() -> list:
    """The back-quoted arguments of the first sentence, defaults in parentheses left out."""
    section = design_section("Module arguments")
    para = " ".join(section.strip().split("\n\n")[0].split())
    para = re.sub(r"\([^()]*\)", "", para)
    first_sentence = re.split(r"\.\s+[A-Z]", para)[0]
    return re.findall(r"`([^`]+)`", first_sentence)


def design_return_values() -> set:
    return set(re.findall(r"`(PAM_[A-Z_]+)`", design_section("Return values")))


def _groff_ascii(page: Path) -> str:
    return subprocess.run(
        ["groff", "-man", "-Tascii", "-P-cbou", "-rLL=200n", "-rcR=1", str(page)],
        capture_output=True, text=True, env=ENV, check=True,
    ).stdout


def render(page: Path) -> str:
    """Plain ASCII rendering of a man page, whitespace collapsed."""
    return " ".join(_groff_ascii(page).split())


def sections(page: Path) -> dict:
    """Rendered text of each top-level section (.SH), whitespace collapsed."""
    out, name, buf = {}, None, []
    for line in _groff_ascii(page).splitlines():
        if re.fullmatch(r"[A-Z][A-Z ]*[A-Z]", line):
            if name:
                out[name] = " ".join(" ".join(buf).split())
            name, buf = line, []
        elif name:
            buf.append(line)
    if name:
        out[name] = " ".join(" ".join(buf).split())
    return out


def rendered_section(page: Path, name: str) -> str:
    secs = sections(page)
    assert name in secs, f"{page.name}: no rendered section {name!r} in {list(secs)}"
    return secs[name]


def roff_sections(page: Path) -> list:
    names = []
    for line in page.read_text(encoding="utf-8").splitlines():
        m = re.match(r'\.SH\s+"?([^"]+)"?\s*$', line)
        if m:
            names.append(m.group(1).strip())
    return names


# ---------------------------------------------------------------- rendering

@pytest.mark.parametrize("name", sorted(PAGES))
def test_man_renders_without_warnings(name):
    if not shutil.which("man") or not shutil.which("groff"):
        pytest.skip("man-db or groff not installed")
    page = PAGES[name]
    r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", str(page)],
                       capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
    r = subprocess.run(["groff", "-ww", "-man", "-z", str(page)],
                       capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr


@pytest.mark.parametrize("name", sorted(PAGES))
def test_man_source_is_clean(name):
    page = PAGES[name]
    lines = page.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        assert line == line.rstrip(), f"{name}:{n}: trailing whitespace"
        if line.startswith('.\\"'):
            continue
        # option-like hyphens must be escaped as \-
        m = re.search(r"(^|[\s\[|(])-{1,2}[A-Za-z]", line)
        assert not m, f"{name}:{n}: unescaped hyphen in {line!r}"
    assert lines[0].startswith('.\\"') or lines[0].startswith(".TH")
    assert any(l.startswith(".TH ") for l in lines)


@pytest.mark.parametrize("name,sections", [
    ("pam_emailotp.8", ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS",
                        "MODULE TYPES PROVIDED", "RETURN VALUES", "NOTES",
                        "EXAMPLES", "FILES", "SEE ALSO"]),
    ("emailotp.8", ["NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS",
                    "EXAMPLES", "FILES", "SEE ALSO"]),
    ("emailotp.conf.5", ["NAME", "DESCRIPTION", "PERMISSIONS", "TEMPLATES",
                         "STORE FILES", "EXAMPLES", "FILES", "SEE ALSO"]),
])
def test_man_sections(name, sections):
    have = roff_sections(PAGES[name])
    for s in sections:
        assert s in have, f"{name}: no section {s}"
    # in the given order
    positions = [have.index(s) for s in sections]
    assert positions == sorted(positions), f"{name}: sections out of order: {have}"


# ---------------------------------------------------------------- configuration keys

def test_source_table_has_the_keys():
    keys = source_keys()
    assert len(keys) >= 27 and len(keys) == len(set(keys)), keys


def test_design_lists_exactly_the_keys_of_the_source_table():
    assert set(design_keys()) == set(source_keys())


@pytest.mark.parametrize("key", sorted(design_keys()))
def test_key_in_conf_man_page(key):
    options = rendered_section(PAGES["emailotp.conf.5"], "OPTIONS")
    assert re.search(r"(^| )" + re.escape(key) + r" = ", options), \
        f"emailotp.conf(5) OPTIONS does not describe {key}"


@pytest.mark.parametrize("key", sorted(design_keys()))
def test_key_in_default_conf(key):
    lines = CONF.read_text(encoding="utf-8").splitlines()
    hits = [l for l in lines if re.match(r"#\s?" + re.escape(key) + r"\s*=", l)]
    assert len(hits) == 1, f"etc/emailotp.conf: {key} appears {len(hits)} times as a setting"


def _numeric_defaults():
    out = []
    for key, note in design_keys().items():
        m = re.match(r"(\d+)(?:,\s*(\d+)\s*[–-]\s*(\d+))?", note)
        if m and key != "mail_port":
            out.append((key, m.group(1), m.group(2), m.group(3)))
    return out


@pytest.mark.parametrize("key,default,lo,hi", _numeric_defaults())
def test_numeric_defaults_and_ranges(key, default, lo, hi):
    conf = CONF.read_text(encoding="utf-8")
    assert re.search(r"^#" + key + r" = " + default + r"$", conf, re.M), \
        f"etc/emailotp.conf: {key} default should be {default}"
    options = rendered_section(PAGES["emailotp.conf.5"], "OPTIONS")
    i = options.index(key + " = ")
    entry = options[i:i + 700]
    assert f"Default: {default}" in entry, f"emailotp.conf(5): default of {key}"
    if lo is not None:
        assert f"{lo} to {hi}" in entry, f"emailotp.conf(5): range of {key}"


def _word_defaults():
    out = []
    for key, note in design_keys().items():
        m = re.fullmatch(r"`([^`|]+)`|(localhost|true|false)(?:;.*)?", note)
        if m:
            out.append((key, m.group(1) if m.group(1) is not None else m.group(2)))
    return out


@pytest.mark.parametrize("key,default", _word_defaults())
def test_word_defaults(key, default):
    conf = CONF.read_text(encoding="utf-8")
    m = re.search(r"^#" + key + r" = (.*)$", conf, re.M)
    assert m, key
    value = m.group(1)
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    assert value == default, f"etc/emailotp.conf: {key} = {value!r}, DESIGN.md says {default!r}"


def test_default_conf_has_no_active_setting():
    for n, line in enumerate(CONF.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        assert stripped == "" or line.startswith("#"), \
            f"etc/emailotp.conf:{n}: uncommented line {line!r}"
        assert line == line.rstrip(), f"etc/emailotp.conf:{n}: trailing whitespace"


def test_default_conf_settings_parse_when_uncommented():
    """Each commented setting would be a valid 'key = value' line."""
    keys = set(design_keys())
    for line in CONF.read_text(encoding="utf-8").splitlines():
        m = re.match(r"#([a-z_]+) = (.*)$", line)
        if not m:
            continue
        assert m.group(1) in keys, f"etc/emailotp.conf: unknown key {m.group(1)}"
        value = m.group(2)
        if value.startswith('"'):
            assert value.endswith('"') and len(value) >= 2, line


def test_placeholders_in_conf_man_page():
    text = render(PAGES["emailotp.conf.5"])
    for p in PLACEHOLDERS:
        assert p in text, f"emailotp.conf(5) lacks {p}"


OTP_PROMPT_PLACEHOLDERS = ["address", "validity"]


def test_otp_prompt_placeholders_are_the_codes_and_documented():
    """The names Messages.codePrompt fills in are the ones emailotp.conf(5) gives for otp_prompt."""
    source = (ROOT / "Sources" / "EmailOTPCore" / "Flows" / "Messages.swift").read_text()
    body = source[source.index("func codePrompt("):]
    body = body[:body.index("\n    }\n")]
    assert sorted(re.findall(r'"(\w+)": ', body)) == sorted(OTP_PROMPT_PLACEHOLDERS), body
    text = render(PAGES["emailotp.conf.5"])
    entry = text[text.index("otp_prompt = text"):]
    entry = entry[:entry.index("Default:")]
    for name in OTP_PROMPT_PLACEHOLDERS:
        assert "{%s}" % name in entry, "emailotp.conf(5) otp_prompt lacks {%s}" % name


def test_store_format_in_conf_man_page():
    store = rendered_section(PAGES["emailotp.conf.5"], "STORE FILES")
    for word in ["hmac.key", "users/<encoded user>", "locks/<encoded user>",
                 "emailotp-token 2", "user alice", "email alice@example.com",
                 "pin $y$", "state enabled", "fail_count 0", "locked_at 0",
                 "mails ", "challenge <txid>", "%XX", "256 bytes", "0700", "0600",
                 "flock", "fsync"]:
        assert word in store, f"emailotp.conf(5) STORE FILES lacks {word!r}"
    # the record keywords of DESIGN.md's record block
    design_store = design_section("Store")
    block = re.search(r"Record:\s*\n\n((?:    .*\n)+)", design_store)
    assert block
    for line in block.group(1).splitlines():
        keyword = line.split()[0]
        assert keyword in store, f"record keyword {keyword} undocumented"


def test_conf_examples():
    examples = rendered_section(PAGES["emailotp.conf.5"], "EXAMPLES")
    for word in ["mail_tls = starttls", "mail_password_file =", "mail_user =",
                 "mail_transport = sendmail", "mail_transport = maildir:/"]:
        assert word in examples, f"emailotp.conf(5) EXAMPLES lacks {word!r}"


# ---------------------------------------------------------------- emailotp(8)

@pytest.mark.parametrize("verb", VERBS)
def test_verb_in_emailotp_man_page(verb):
    commands = rendered_section(PAGES["emailotp.8"], "COMMANDS")
    assert re.search(r"(^| )" + re.escape(verb) + r"( |$)", commands), \
        f"emailotp(8) COMMANDS does not describe {verb}"


@pytest.mark.parametrize("option", CLI_OPTIONS)
def test_cli_option_in_emailotp_man_page(option):
    assert option in render(PAGES["emailotp.8"])


def test_exit_status_in_emailotp_man_page():
    status = rendered_section(PAGES["emailotp.8"], "EXIT STATUS")
    for code in ["0", "1", "2", "3", "64"]:
        assert re.search(r"(^| )" + code + r" ", status), f"exit status {code}"


# ---------------------------------------------------------------- pam_emailotp(8)

@pytest.mark.parametrize("arg", design_module_args())
def test_module_argument_in_pam_man_page(arg):
    options = rendered_section(PAGES["pam_emailotp.8"], "OPTIONS")
    name, _, values = arg.partition("=")
    if name in ("key", "config", "helper"):   # placeholders: key=value, config=PATH, helper=PATH
        assert name + "=" in options
        return
    if values:
        assert name + "=" + values in options, f"pam_emailotp(8) lacks {arg}"
    else:
        assert re.search(r"(^| )" + re.escape(name) + r" ", options), \
            f"pam_emailotp(8) OPTIONS lacks {name}"


def test_module_argument_parser_finds_all():
    names = {a.partition("=")[0] for a in design_module_args()}
    assert {"config", "debug", "nullok", "pin", "use_first_pass",
            "try_first_pass", "mode"} <= names


def test_return_values_match_design():
    section = rendered_section(PAGES["pam_emailotp.8"], "RETURN VALUES")
    documented = set(re.findall(r"PAM_[A-Z_]+", section))
    assert documented == design_return_values()


def test_pam_man_page_examples():
    examples = rendered_section(PAGES["pam_emailotp.8"], "EXAMPLES")
    for word in ["AuthenticationMethods publickey,keyboard-interactive",
                 "pam_emailotp.so pin=none", "mode=challenge",
                 "pamtester emailotp alice authenticate"]:
        assert word in examples, f"pam_emailotp(8) EXAMPLES lacks {word!r}"


def test_pam_man_page_notes():
    notes = rendered_section(PAGES["pam_emailotp.8"], "NOTES")
    for word in ["nullok", "pin=none", "max_fail", "unlock_time", "resend_interval",
                 "max_mails_per_hour", "HMAC", "yescrypt", "mail_timeout",
                 "LoginGraceTime", "pam-auth-update --enable emailotp"]:
        assert word in notes, f"pam_emailotp(8) NOTES lacks {word!r}"


# ---------------------------------------------------------------- pam-auth-update profile

def parse_profile(path: Path) -> dict:
    fields, name = {}, None
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^(\S+):(?:\s+(.*?))?\s*$", line)
        if m:
            name = m.group(1)
            fields[name] = m.group(2) or ""
        elif line.strip():
            assert name, "continuation line before any field"
            fields[name] = (fields[name] + "\n" + line.strip()).strip()
    return fields


def test_pam_auth_update_profile():
    text = PROFILE.read_text(encoding="utf-8")
    # pam-auth-update has no comment syntax: a '#' line would become PAM config.
    assert not any(l.lstrip().startswith("#") for l in text.splitlines())
    fields = parse_profile(PROFILE)
    assert fields["Name"]
    assert fields["Default"] == "no"
    assert 0 < int(fields["Priority"]) < 256     # after pam_unix (256)
    assert fields["Auth-Type"] == "Additional"
    # nullok: enabling the profile must not lock out the users not enrolled yet.
    assert re.fullmatch(r"required\s+pam_emailotp\.so\s+pin=none\s+nullok", fields["Auth"])
    assert set(fields) == {"Name", "Default", "Priority", "Auth-Type", "Auth"}


# ---------------------------------------------------------------- installed copies

def _installed_text(path: Path):
    if path.exists():
        return path.read_bytes()
    gz = path.with_name(path.name + ".gz")
    if gz.exists():
        return gzip.decompress(gz.read_bytes())
    return None


@pytest.mark.parametrize("name", sorted(PAGES))
def test_installed_man_pages_match_repo(name):
    if not (INSTALLED_MAN["pam_emailotp.8"].exists()
            or INSTALLED_MAN["pam_emailotp.8"].with_suffix(".8.gz").exists()):
        pytest.skip("man pages not installed")
    installed = _installed_text(INSTALLED_MAN[name])
    assert installed is not None, f"{INSTALLED_MAN[name]} missing"
    assert installed == PAGES[name].read_bytes(), f"{INSTALLED_MAN[name]} differs from man/{name}"


def test_installed_profile_matches_repo():
    if not INSTALLED_PROFILE.exists():
        pytest.skip("pam-auth-update profile not installed")
    assert INSTALLED_PROFILE.read_bytes() == PROFILE.read_bytes()
