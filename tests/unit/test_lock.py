"""Installs are hash-pinned: requirements.lock covers every dependency, each with its sha256."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of requirements.lock."""
    text = (REPO / "requirements.lock").read_text().replace("\\\n", " ")
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([A-Za-z0-9_.-]+)==(\S+)\s*(.*)", line)
        assert m, f"unpinned line in requirements.lock: {line[:60]}"
        found[_norm(m.group(1))] = (m.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", m.group(3)))
    return found


def test_every_locked_package_is_pinned_by_hash() -> None:
    lock = _lock()
    assert len(lock) > 50
    assert all(hashes for _, hashes in lock.values()), [n for n, (_, h) in lock.items() if not h]


def test_the_lock_agrees_with_constraints_and_pyproject() -> None:
    lock = _lock()
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            assert lock.get(_norm(name), ("missing",))[0] == version.strip(), \
                f"{name} is {version} in constraints.txt: run `make lock`"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    for requirement in wanted:
        name = _norm(re.match(r"[A-Za-z0-9_.-]+", requirement).group())
        assert name in lock, f"{name} (pyproject.toml) is not in requirements.lock: run `make lock`"
    assert "setuptools" in lock  # the build backend too: `pip install -e .` fetches nothing unhashed


def test_make_install_requires_hashes_for_everything_it_installs() -> None:
    recipe = (REPO / "Makefile").read_text().split("$(STAMP):", 1)[1].split("\n\n", 1)[0]
    installs = [line for line in recipe.splitlines() if "pip install" in line]
    assert installs
    for line in installs:
        assert "--require-hashes" in line or ("--no-deps" in line and "--no-build-isolation" in line), line
