#!/usr/bin/env python3
"""Counts the direct C library calls of the Swift sources outside System/.

A call is an identifier followed by `(` that the C library exports (`nm -D` of libc.so.6,
or a `cshim_` function of CShim), not a method (`.name(`, except `Glibc.name(`), not a
declaration (`func name(`), outside comments and string literals; `stat()`, `sigaction()`,
`passwd()`, `group()`, `tm()` with no arguments are the C structs' initialisers, not calls.
A name the same file declares (`func read`, `let step`, a closure parameter `step: (`) is
the Swift one unless spelt `Glibc.name(`.

    python3 bench/libc_calls.py [--list] [ROOT]

prints `libc N files F` and `cshim N files F` (with --list, every call site).
"""
import os
import re
import subprocess
import sys

def libc_symbols():
    for path in ("/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/usr/lib/libc.so.6"):
        if os.path.exists(path):
            out = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True, text=True).stdout
            return {line.split()[2].split("@")[0] for line in out.splitlines()
                    if len(line.split()) == 3 and line.split()[1] in "TWiT"}
    sys.exit("no libc.so.6")

def strip(text):
    """The code of each line: comments and the literal parts of strings dropped, the code of
    string interpolations `\\(...)` kept (multi-line string literals included)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    lines, out = [], []
    i, n = 0, len(text)
    stack = []  # per open string: its delimiter; None marks an interpolation's code
    depth = []  # parentheses open inside each interpolation
    while i < n:
        c = text[i]
        in_string = bool(stack) and stack[-1] is not None
        if c == "\n":
            lines.append("".join(out))
            out = []
            i += 1
            continue
        if in_string:
            delimiter = stack[-1]
            if text.startswith("\\(", i):
                stack.append(None)
                depth.append(0)
                out.append("(")
                i += 2
            elif c == "\\":
                i += 2
            elif text.startswith(delimiter, i):
                stack.pop()
                out.append('""')
                i += len(delimiter)
            else:
                i += 1
            continue
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c == '"':
            delimiter = '"""' if text.startswith('"""', i) else '"'
            stack.append(delimiter)
            i += len(delimiter)
            continue
        if stack and c == "(":
            depth[-1] += 1
        elif stack and c == ")":
            if depth[-1] == 0:
                stack.pop()
                depth.pop()
                out.append(")")
                i += 1
                continue
            depth[-1] -= 1
        out.append(c)
        i += 1
    lines.append("".join(out))
    return lines

STRUCTS = {"stat", "sigaction", "passwd", "group", "tm", "timespec", "pollfd", "addrinfo"}

def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    listing = "--list" in sys.argv
    symbols = libc_symbols()
    call = re.compile(r"(?<![\w.])(Glibc\.)?([A-Za-z_]\w*)\s*\((\))?")
    counts = {"libc": [0, set()], "cshim": [0, set()]}
    sources = os.path.join(root, "Sources")
    for directory, _, names in sorted(os.walk(sources)):
        rel_dir = os.path.relpath(directory, root)
        if rel_dir.startswith("Sources/EmailOTPCore/System"):
            continue
        for name in sorted(names):
            if not name.endswith(".swift"):
                continue
            path = os.path.join(directory, name)
            lines = strip(open(path, encoding="utf-8").read())
            body = "\n".join(lines)
            declared = set(re.findall(r"\bfunc\s+(\w+)", body)) | set(re.findall(r"\b(?:let|var)\s+(\w+)", body)) \
                | set(re.findall(r"(\w+)\s*:\s*(?:@escaping\s+)?\(", body))
            for number, line in enumerate(lines, 1):
                for match in call.finditer(line):
                    ident = match.group(2)
                    before = line[:match.start()].rstrip()
                    if before.endswith("func") or before.endswith("case"):
                        continue
                    if ident in declared and not match.group(1):
                        continue
                    if ident.startswith("cshim_"):
                        kind = "cshim"
                    elif ident in symbols:
                        if ident in STRUCTS and match.group(3):
                            continue
                        kind = "libc"
                    else:
                        continue
                    counts[kind][0] += 1
                    counts[kind][1].add(os.path.relpath(path, root))
                    if listing:
                        print(f"{kind}\t{os.path.relpath(path, root)}:{number}\t{ident}")
    for kind, (n, files) in counts.items():
        print(f"{kind} {n} files {len(files)}")

main()
