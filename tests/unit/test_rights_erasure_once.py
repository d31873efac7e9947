"""One erasure path: duplicates resolve to one shred, exports are erased by the rights service,
and the command line never holds the pepper."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import pytest

from services.rights.application import RightsApplication
from services.rights.exports import delete_subject_exports
from shared.config import Settings
from shared.keysource import FileKeySource
from tests.unit.test_rights_rules import FakeDownstream

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def rights(tmp_path: Path) -> tuple[RightsApplication, FakeDownstream]:
    down = FakeDownstream()
    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys")
    app = RightsApplication(settings, FileKeySource(settings.key_dir), down, lambda: down.log,
                            lambda: down.retention_log)
    yield app, down
    app.close()


def _export(ref: str, account: str) -> str:
    return json.dumps({"format": "lethe.access-export/v1",
                       "data_subject": {"account_id": account, "subject_ref": ref},
                       "interactions": [{"content": {"prompt": "generated prompt " * 50}}]}, indent=2)


def test_concurrent_duplicate_erasures_shred_once_and_end_alike(rights) -> None:
    app, down = rights
    ids = [f"dup-{i}" for i in range(8)]
    barrier = threading.Barrier(len(ids))

    def submit(request_id: str) -> None:
        barrier.wait()
        app.submit(request_id, "erasure", "acct-generated-dup")

    threads = [threading.Thread(target=submit, args=(r,)) for r in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    workers = [threading.Thread(target=app.resume) for _ in range(4)]  # racing workers
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    app.resume()
    views = [app.get(r) for r in ids]
    assert len(down.primary) == 1
    assert {v.state for v in views} == {"fulfilled"}
    firsts = [v for v in views if not v.duplicate_of]
    assert len(firsts) == 1
    assert {v.duplicate_of for v in views if v.duplicate_of} == {firsts[0].request_id}


def test_a_second_erasure_with_nothing_new_stored_is_fulfilled_without_a_second_shred(rights) -> None:
    app, down = rights
    app.submit("first", "erasure", "acct-generated-seq")
    app.resume()
    app.submit("second", "erasure", "acct-generated-seq")
    app.resume()
    assert app.get("first").state == app.get("second").state == "fulfilled"
    assert down.primary == ["first"]  # the closing shreds destroy nothing when nothing is new


def test_a_second_erasure_after_new_data_shreds_again(rights) -> None:
    app, down = rights
    view, _ = app.submit("first", "erasure", "acct-generated-new")
    app.resume()
    down.store(view.subject_ref)  # the account kept using the service: a new key generation
    app.submit("second", "erasure", "acct-generated-new")
    app.resume()
    assert down.primary == ["first", "second"]
    assert app.get("second").state == "fulfilled"


def test_a_duplicate_of_a_denied_erasure_is_denied_too(rights) -> None:
    app, down = rights
    cats = ["user.content"]
    down.blockers = {"blockers": [{"hold_id": "h1", "reason": "litigation", "legal_basis":
                                   "GDPR Art. 17(3)(e)", "reference": "", "categories": cats,
                                   "records": 1}], "preserved": cats, "erasable": []}
    app.submit("held-1", "erasure", "acct-generated-held")
    app.submit("held-2", "erasure", "acct-generated-held")
    app.resume()
    assert app.get("held-1").state == app.get("held-2").state == "denied"
    assert "held-1" in app.get("held-2").reason and down.shreds == []


def test_the_erasure_deletes_the_subjects_exports_nested_and_whatever_their_names(rights) -> None:
    app, down = rights
    ref = app.resolve_subject("acct-generated-exp")
    other = app.resolve_subject("acct-generated-other")
    exports = app.exports_dir
    files = [exports / "a.json", exports / "2026" / "03" / "export", exports / "deep" / "x.txt.bak",
             exports / ".hidden", exports / "cut.json"]
    for f in files:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(_export(ref, "acct-generated-exp"))
    files[-1].write_text(_export(ref, "acct-generated-exp")[:200])  # truncated: not JSON any more
    kept = exports / "sub" / "other.json"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(_export(other, "acct-generated-other"))
    outside = app.settings.data_dir.parent / "outside.json"
    outside.write_text(_export(ref, "acct-generated-exp"))
    (exports / "link.json").symlink_to(outside)
    app.submit("erase-exp", "erasure", "acct-generated-exp")
    app.resume()
    view = app.get("erase-exp")
    assert view.state == "fulfilled" and view.exports_deleted == len(files)
    assert not any(f.exists() for f in files)
    assert kept.exists() and outside.exists()  # another subject's export; a symlink's target


def test_a_large_export_is_found_across_read_chunks(tmp_path: Path) -> None:
    ref = "sr_" + "ab" * 16
    path = tmp_path / "exports" / "big"
    path.parent.mkdir()
    path.write_bytes(b"x" * ((1 << 20) - 10) + ref.encode() + b"y" * 100)
    assert delete_subject_exports(tmp_path / "exports", ref) == 1 and not path.exists()


PEPPER_USE = re.compile(r"""get(_or_create)?\(\s*["']pepper["']|\bsubject_ref\s*\(|keyed_digest|"""
                        r"""import\s+hmac|from\s+shared\.crypto\s+import""")


def test_the_command_line_never_reads_the_pepper_nor_derives_subject_refs() -> None:
    """Only provisioning touches it: ``lethe up`` creates it in a local key dir (cli/deployment.py)
    and ``lethe k8s secrets`` copies it, unread, into its Kubernetes Secret (cli/certs.py)."""
    offenders = []
    for path in sorted((REPO / "cli").rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if PEPPER_USE.search(line) and not (
                    path.name == "deployment.py" and 'keys.get_or_create("pepper")' in line
                    or path.name == "certs.py" and '_secret("lethe-pepper"' in line):
                offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert not offenders, offenders
