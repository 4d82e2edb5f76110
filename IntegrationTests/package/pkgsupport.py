"""Helpers of the package tests (imported by name: `from conftest import` would find another
suite's conftest.py when the whole IntegrationTests tree runs)."""

import os
import pathlib
import shutil
import subprocess

HERE = pathlib.Path(__file__).resolve().parent
REPO = str(HERE.parents[1])


def swift_dir():
    """The toolchain directory bound into the roots (the one install.sh would use)."""
    swift = shutil.which("swift")
    if swift:
        return str(pathlib.Path(os.path.realpath(swift)).parents[2])
    return "/opt/swift"


def deb_version(path):
    return subprocess.run(["dpkg-deb", "-f", path, "Version"], capture_output=True, text=True,
                          check=True).stdout.strip()
