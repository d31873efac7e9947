"""Operator output files (access exports, disclosures): mode 0600, atomic, never through a symlink."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cli.outfile import private_output


def test_an_existing_world_readable_file_is_replaced_by_a_0600_file(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text("old")
    os.chmod(path, 0o644)
    with private_output(path) as fh:
        fh.write(b"{}")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_bytes() == b"{}"
    assert [p.name for p in tmp_path.iterdir()] == ["export.json"]  # no temporary file left


def test_a_symlink_at_the_path_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("precious")
    os.chmod(target, 0o644)
    link = tmp_path / "export.json"
    link.symlink_to(target)
    with pytest.raises(OSError, match="symlink"), private_output(link) as fh:
        fh.write(b"{}")
    assert link.is_symlink() and target.read_text() == "precious"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644


def test_a_dangling_symlink_is_refused_and_nothing_is_created(tmp_path: Path) -> None:
    link = tmp_path / "export.json"
    link.symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(OSError), private_output(link) as fh:
        fh.write(b"{}")
    assert not (tmp_path / "elsewhere.json").exists()


def test_a_failure_while_writing_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text("old")
    with pytest.raises(RuntimeError), private_output(path) as fh:
        fh.write(b"half")
        raise RuntimeError("the request failed")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["export.json"]
