"""Regression: every case in the handbook's tricky_cases.jsonl must be detected with exact type and offsets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

HANDBOOK = Path(os.environ.get("LETHE_HANDBOOK_DIR") or Path(__file__).resolve().parents[2] / ".." / "shared")
CASES_FILE = HANDBOOK / "data" / "pii" / "tricky_cases.jsonl"


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    if not CASES_FILE.is_file():
        pytest.skip(f"handbook absent: {CASES_FILE} not found (set LETHE_HANDBOOK_DIR to run this check)")
    return [json.loads(line) for line in CASES_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_tricky_case_is_detected_exactly(cases):
    from services.anonymization.engine import DetectionEngine, deidentify

    engine = DetectionEngine(workers=1)
    failures = []
    for case, dets in zip(cases, engine.analyze_batch([c["text"] for c in cases])):
        got = {(d.type, d.start, d.end) for d in dets}
        missing = [e for e in case["expected"] if (e["type"], e["start"], e["end"]) not in got]
        if missing:
            failures.append(f"{case['kind']}: missing {[(e['type'], e['start'], e['end']) for e in missing]}")
        redacted = deidentify(case["text"], dets)
        leaked = [e["type"] for e in case["expected"] if e["value"] in redacted]
        if leaked:
            failures.append(f"{case['kind']}: value survives redaction ({leaked})")
    assert not failures, "\n".join(failures)
