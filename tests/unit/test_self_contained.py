"""The repository is self-contained: what the code cites is in it, and the README says what tests need.

Design citations point at ``docs/design.md`` (and its sections exist), never at a document outside the
repository (``DESIGN.md``, a handbook's README or seed files, ``../shared``). The only outside input
is optional: labelled data sets under ``$LETHE_HANDBOOK_DIR``, read by the few files listed below,
which skip with a message when the folder is absent.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
THIS = Path(__file__).resolve().relative_to(REPO).as_posix()
# Files that read the optional outside data sets ($LETHE_HANDBOOK_DIR) and may name that folder.
READS_OUTSIDE_DATA_SETS = {
    "services/anonymization/evaluate.py",
    "tests/conftest.py",
    "tests/unit/test_tricky_cases.py",
    "tests/bench/anonymization_bench.py",
}
OUTSIDE_DOCUMENT = re.compile(r"DESIGN\.md|\.\./shared\b|handbook (README|seed)|privacy-policy\.txt|/work/shared")


def tracked_text_files() -> list[Path]:
    """Every committed or staged text file of the repository."""
    names = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    files = []
    for name in names:
        path = REPO / name
        if name == THIS or not path.is_file() or name.endswith(".lock"):
            continue
        try:
            files.append((name, path.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            continue
    return files


def test_no_file_cites_a_document_outside_the_repository() -> None:
    found = [f"{name}:{n}: {line.strip()}" for name, text in tracked_text_files()
             for n, line in enumerate(text.splitlines(), 1) if OUTSIDE_DOCUMENT.search(line)]
    assert not found, "cite docs/design.md or a README section instead:\n" + "\n".join(found)


def test_only_the_readers_of_the_optional_data_sets_mention_the_handbook() -> None:
    found = sorted({name for name, text in tracked_text_files()
                    if re.search(r"handbook", re.sub(r"LETHE_HANDBOOK_DIR", "", text), re.I)}
                   - READS_OUTSIDE_DATA_SETS)
    assert not found, f"these files mention the handbook: cite docs/design.md instead: {found}"


def test_every_cited_section_of_the_design_notes_exists() -> None:
    design = (REPO / "docs" / "design.md").read_text(encoding="utf-8")
    sections = set(re.findall(r"^## (\d+)\.", design, re.M))
    items = {f"4.{n}" for n in re.findall(r"^(\d+)\. \*\*", design.split("## 4.", 1)[1].split("\n## ", 1)[0],
                                           re.M)}
    cited = []
    for name, text in tracked_text_files():
        for match in re.finditer(r"docs/design\.md((?:,? ?(?:and )?§[\d.]+)+)", text):
            cited += [(name, ref) for ref in re.findall(r"§(\d+(?:\.\d+)?)", match.group(1))]
    assert len(cited) >= 10
    for name, ref in cited:
        assert ref in sections | items, f"{name} cites docs/design.md §{ref}, which does not exist"


def test_the_readme_states_what_make_test_needs_and_where_lethe_is() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "127.0.0.1:5432" in readme and "trust" in readme, "PostgreSQL and its authentication"
    assert ".ci/run" in readme and "pg_ctlcluster" in readme, "how CI starts PostgreSQL"
    assert ".venv/bin" in readme and "PATH" in readme, "how to put lethe on the PATH"
    assert "docs/design.md" in readme
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "pg_ctlcluster" in ci and "make test" in ci, "the README describes what .ci/run does"
