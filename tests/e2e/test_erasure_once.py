"""One erasure path against the real services: concurrent duplicates shred once, a repeat with
nothing new does not shred again, the subject's exports are gone wherever they were kept."""

from __future__ import annotations

import json
import threading
from typing import Any

from cli import audit as audit_mod
from cli import deployment as deployment_mod
from cli.main import erase_account, resolve_subject
from cli.sample import generate
from tests.conftest import Deployment


def test_concurrent_duplicate_erasures_shred_once(sqlite_deployment: Deployment, tmp_path) -> None:
    dep = sqlite_deployment
    lines = list(generate(3, 30, seed=5))
    sample = tmp_path / "s.jsonl"
    sample.write_text("".join(json.dumps(line) + "\n" for line in lines))
    dep.lethe("ingest", str(sample))
    account = lines[0]["account_id"]
    ref = resolve_subject(account, dep.data_dir, dep.key_dir)
    nested = dep.data_dir / "exports" / "2026" / "q4" / "whatever-name"
    nested.parent.mkdir(parents=True)
    dep.lethe("rights", "access", account, "--out", str(nested))
    results: list[dict[str, Any]] = []

    def erase() -> None:
        results.append(erase_account(account, dep.data_dir, dep.key_dir))

    threads = [threading.Thread(target=erase) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    again = erase_account(account, dep.data_dir, dep.key_dir)  # nothing new stored since
    assert {r["state"] for r in results + [again]} == {"fulfilled"}
    assert not nested.exists()
    _, _, peers = deployment_mod.connect(dep.data_dir, dep.key_dir, "auditor")
    vault_log = audit_mod.read_logs(peers)["vault"]
    shreds = [e for e in vault_log if e.event == "SubjectShredded"
              and e.attributes.get("subject_ref") == ref and e.attributes.get("buckets_rotated")]
    assert len(shreds) == 1  # one destruction; the closing shreds found nothing new
    assert dep.lethe("audit", "verify", check=False).returncode == 0
