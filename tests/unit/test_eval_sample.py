"""The held-out evaluation sample under ``eval/sample`` (presidio-research, MIT): it loads, its spans
lie inside their texts and carry our types as ``evaluate.SYNTH_COMPAT`` maps the source labels, its
licence and provenance are in the repository, its converter reproduces it and refuses spans that do
not hold their value, and ``make eval`` (``evaluate.main``) reports it from the repository alone."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import pytest

from services.anonymization import evaluate
from services.anonymization.engine import DetectionEngine

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DIR = REPO / "eval" / "sample"


def _lines() -> list[dict]:
    return [json.loads(line) for line in evaluate.SAMPLE.read_text(encoding="utf-8").splitlines()]


def _convert_module():
    spec = importlib.util.spec_from_file_location("eval_sample_convert", SAMPLE_DIR / "convert.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def engine() -> DetectionEngine:
    eng = DetectionEngine(workers=1)
    yield eng
    eng.close()


def test_the_sample_is_in_the_repository_with_its_licence_and_provenance() -> None:
    assert evaluate.SAMPLE.parent == SAMPLE_DIR and evaluate.SAMPLE.is_file()
    licence = (SAMPLE_DIR / "LICENSE").read_text(encoding="utf-8")
    assert "MIT License" in licence and "Copyright (c) Microsoft Corporation." in licence
    assert "Permission is hereby granted, free of charge" in licence
    readme = (SAMPLE_DIR / "README.md").read_text(encoding="utf-8")
    for fact in ("https://github.com/microsoft/presidio-research", "data/synth_dataset_v2.json",
                 "7622dec1e5f7d25dc60b57c28c39f4c4af197018", "eval/sample/convert.py", "not tuned"):
        assert fact in readme, fact


def test_every_record_loads_with_spans_inside_its_text_and_our_types() -> None:
    lines = _lines()
    assert 200 <= len(lines) <= 500
    to_type = _convert_module().LABEL_TO_TYPE
    indices = [r["source_index"] for r in lines]
    assert indices == sorted(set(indices))
    for rec in lines:
        assert isinstance(rec["text"], str) and rec["text"]
        for s in rec["spans"]:
            assert 0 <= s["start"] < s["end"] <= len(rec["text"]), rec["source_index"]
            assert rec["text"][s["start"]:s["end"]].strip(), rec["source_index"]
            # The converter's mapping is evaluate's: the one type SYNTH_COMPAT accepts for the label.
            if s["type"] is None:
                assert s["label"] in evaluate.OUT_OF_SCOPE
            else:
                assert {s["type"]} == evaluate.SYNTH_COMPAT[s["label"]] and to_type[s["label"]] == s["type"]
    loaded = evaluate.load_sample()
    assert len(loaded) == len(lines)
    assert [len([s for s in r["spans"] if s["type"]]) for r in lines] == [len(r["spans"]) for r in loaded]
    assert {s["entity_type"] for r in loaded for s in r["spans"]} <= set(evaluate.SAMPLE_COMPAT)
    assert len(evaluate.load_sample(limit=5)) == 5


def test_the_converter_reproduces_the_sample_from_a_source_of_that_shape() -> None:
    """The source rebuilt from the sample, with excluded records mixed in, converts back to the
    sample line for line; a span shifted by one character anywhere is refused."""
    convert = _convert_module()
    lines = _lines()
    rng = random.Random(12)
    source, expected, exclude = [], [], []
    for rec in lines:
        if rng.random() < 0.3:  # a record of the excluded split, and a repeat of its text
            other = {"full_text": f"Excluded sentence {len(source)}.", "spans": []}
            exclude.append(other)
            source += [other, dict(other)]
        source.append({"full_text": rec["text"], "spans": [
            {"entity_type": s["label"], "entity_value": rec["text"][s["start"]:s["end"]],
             "start_position": s["start"], "end_position": s["end"]} for s in reversed(rec["spans"])]})
        expected.append({**rec, "source_index": len(source) - 1})
    assert convert.convert(source, exclude) == expected
    kept = convert.convert(source, [{"full_text": r["text"]} for r in lines])
    assert kept and all(r["text"].startswith("Excluded sentence") for r in kept)
    for _ in range(20):
        bad = json.loads(json.dumps(source))
        rec = rng.choice([r for r in bad if r["spans"]])
        span = rng.choice(rec["spans"])
        shift = rng.choice((-1, 1))
        span["start_position"] += shift
        span["end_position"] += shift
        with pytest.raises(ValueError):
            convert.convert(bad, exclude)


def test_the_sample_shares_no_sentence_with_the_development_split() -> None:
    dev = evaluate.labelled_sets_dir() / "synth_pii_dev.json"
    if not dev.is_file():
        pytest.skip(f"{dev} absent (set LETHE_HANDBOOK_DIR): the overlap was checked when the sample was made")
    dev_texts = {r["full_text"] for r in json.loads(dev.read_text(encoding="utf-8"))}
    assert not dev_texts & {r["text"] for r in _lines()}


def test_evaluate_scores_the_sample_per_type_and_for_the_direct_group(engine, capsys) -> None:
    records = evaluate.load_sample(limit=12)
    res = evaluate.evaluate_sample(engine, records)
    out = capsys.readouterr().out
    assert "Held-out sample (12 texts" in out
    rows = {r["type"]: r for r in res["rows"]}
    spans = [s["entity_type"] for r in records for s in r["spans"]]
    for kind in set(spans):
        assert rows[kind]["expected"] == spans.count(kind)
        assert f"  {kind:<22}{spans.count(kind):>9}" in out
    direct = sum(k in evaluate.DIRECT_LABELS for k in spans)
    assert res["direct"]["expected"] == direct and f"  {'DIRECT (7 types)':<22}{direct:>9}" in out
    assert res["direct"]["recall"] > 0  # the engine finds something: the figures are measured, not empty


def test_make_eval_reports_the_sample_without_the_outside_sets(engine, capsys, monkeypatch, tmp_path) -> None:
    """``main`` with no outside folder: the sample's table is printed, then the note that the outside
    sets were not evaluated; exit 0. (The generated sets are measured elsewhere and skipped here.)"""
    monkeypatch.setenv("LETHE_HANDBOOK_DIR", str(tmp_path / "absent"))
    monkeypatch.setattr("services.anonymization.engine.DetectionEngine", lambda: engine)
    monkeypatch.setattr(evaluate, "evaluate_generated", lambda eng: None)
    monkeypatch.setattr(evaluate, "evaluate_languages", lambda eng: {})
    assert evaluate.main() == 0
    out = capsys.readouterr().out
    assert f"Held-out sample ({len(_lines())} texts" in out and "DIRECT (7 types)" in out
    assert out.index("Held-out sample") < out.index("not found at")
