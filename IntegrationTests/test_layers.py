"""The layers of the core are SwiftPM targets (Package.swift): a target can import only the
targets it depends on, so a back-edge does not build. Shown on a scratch copy of the package
with one planted back-edge, built one target alone (no install, no root needed)."""

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWIFT = shutil.which("swift") or "/opt/swift/usr/bin/swift"


def scratch_copy(tmp_path):
    """The package's sources and manifest, and the resolved dependencies of the tree's own
    .build (so that nothing is fetched from the network)."""
    copy = tmp_path / "package"
    copy.mkdir()
    for name in ("Package.swift", "Package.resolved"):
        if os.path.exists(os.path.join(ROOT, name)):
            shutil.copy(os.path.join(ROOT, name), copy / name)
    for name in ("Sources", "CShim", "Tests", "link"):
        shutil.copytree(os.path.join(ROOT, name), copy / name)
    build = os.path.join(ROOT, ".build")
    (copy / ".build").mkdir()
    for name in ("checkouts", "repositories"):
        if os.path.isdir(os.path.join(build, name)):
            shutil.copytree(os.path.join(build, name), copy / ".build" / name, symlinks=True)
    if os.path.exists(os.path.join(build, "workspace-state.json")):
        shutil.copy(os.path.join(build, "workspace-state.json"), copy / ".build" / "workspace-state.json")
    return copy


def build_target(package, target):
    return subprocess.run([SWIFT, "build", "--disable-automatic-resolution", "--target", target,
                           "--explicit-target-dependency-import-check=error"],
                          cwd=package, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def swift():
    if not os.path.exists(SWIFT):
        pytest.skip("no Swift toolchain")
    if not os.path.isdir(os.path.join(ROOT, ".build", "checkouts")):
        pytest.skip("the package's dependencies are not resolved here (swift build first)")
    return SWIFT


def test_system_importing_flows_does_not_build(swift, tmp_path):
    package = scratch_copy(tmp_path)
    planted = package / "Sources" / "EmailOTPCore" / "System" / "Text.swift"
    planted.write_text("import EmailOTPFlows\n" + planted.read_text())
    result = build_target(package, "EmailOTPSystem")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    # refused because of the planted import, not for some other reason
    assert "EmailOTPFlows" in output and "Text.swift" in output, output[-3000:]


def test_the_module_does_not_depend_on_the_admin_code(swift):
    """PAMModule and the helper reach EmailOTPAudit and EmailOTPAdmin through no dependency
    (the manifest's graph); only emailotp links them."""
    import json
    described = json.loads(subprocess.run([SWIFT, "package", "describe", "--type", "json"], cwd=ROOT,
                                          capture_output=True, text=True, check=True, timeout=600).stdout)
    targets = {t["name"]: t.get("target_dependencies", []) for t in described["targets"]}

    def closure(name):
        seen, todo = set(), [name]
        while todo:
            for dependency in targets.get(todo.pop(), []):
                if dependency not in seen:
                    seen.add(dependency)
                    todo.append(dependency)
        return seen

    for admin in ("EmailOTPAudit", "EmailOTPAdmin"):
        assert admin not in closure("PAMModule"), admin
        assert admin not in closure("emailotp-helper"), admin
        assert admin in closure("emailotp"), admin
    # the layers in order: nothing below Flows reaches it
    for layer in ("EmailOTPSystem", "EmailOTPCrypto", "EmailOTPConfig", "EmailOTPToken", "EmailOTPStore", "EmailOTPMail"):
        assert "EmailOTPFlows" not in closure(layer), layer
