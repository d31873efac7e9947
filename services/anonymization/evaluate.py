"""Measure detection quality (``make eval``): on sets generated from the repository alone, and on the
labelled sets kept outside it when present.

Run: ``python -m services.anonymization.evaluate``. Always: the generated English set and negative set
(``generated.py``, ``negatives.py``), one generated set per language (German, French, Spanish,
Portuguese, Italian, Dutch: ``generated.language_set``, ``generated.language_negatives``), and the
held-out sample committed under ``eval/sample`` (presidio-research, MIT; its README says where it came
from), printed as recall and precision per entity type and per language. Then, beside them, the sets
under ``data/pii`` in ``$LETHE_HANDBOOK_DIR`` (default: a folder ``shared`` beside the checkout) when present.

Scoring convention: an expected span is *found* when a detected span of a compatible
type overlaps it; a detected span is *correct* when it overlaps an expected span of a compatible type.
F2 weighs recall twice as much as precision (missing PII costs more than over-redacting).

In scope, synthetic set (label -> our compatible types):
  direct identifiers: PERSON, EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD, IBAN_CODE, US_SSN, IP_ADDRESS;
  others: STREET_ADDRESS/GPE/ZIP_CODE -> LOCATION, DATE_TIME, DOMAIN_NAME -> URL, NRP, ORGANIZATION,
  AGE, US_DRIVER_LICENSE -> ID_NUMBER.
  Out of scope: TITLE (job titles and honorifics identify no one by themselves).
TAB (ECHR): recall of DIRECT and QUASI mentions (compatible: PERSON->PERSON, LOC/ORG->LOCATION or
  ORGANIZATION, DATETIME->DATE_TIME or AGE, CODE/DEM/QUANTITY/MISC->any type), the type-agnostic recall
  TAB's authors use, and token precision (share of masked word tokens inside a DIRECT/QUASI mention).
Tricky cases: every expected entity must be detected with exactly its type and offsets.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

SYNTH_COMPAT = {
    "PERSON": {"PERSON"}, "EMAIL_ADDRESS": {"EMAIL_ADDRESS"}, "PHONE_NUMBER": {"PHONE_NUMBER"},
    "CREDIT_CARD": {"CREDIT_CARD"}, "IBAN_CODE": {"IBAN_CODE"}, "US_SSN": {"US_SSN"},
    "IP_ADDRESS": {"IP_ADDRESS"}, "STREET_ADDRESS": {"LOCATION"}, "GPE": {"LOCATION"},
    "ZIP_CODE": {"LOCATION"}, "DATE_TIME": {"DATE_TIME"}, "DOMAIN_NAME": {"URL"}, "NRP": {"NRP"},
    "ORGANIZATION": {"ORGANIZATION"}, "AGE": {"AGE"}, "US_DRIVER_LICENSE": {"ID_NUMBER"},
    "NATIONAL_ID": {"ID_NUMBER"},
}
# The generated language sets: their labels only (a date or an organisation found there is not scored).
LANGUAGE_COMPAT = {k: SYNTH_COMPAT[k] for k in ("PERSON", "STREET_ADDRESS", "PHONE_NUMBER", "IBAN_CODE",
                                                  "NATIONAL_ID", "EMAIL_ADDRESS")}
LANGUAGES = ("de", "fr", "es", "pt", "it", "nl")
DIRECT_LABELS = ("PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS")
OUT_OF_SCOPE = ("TITLE",)
_ANY = None
TAB_COMPAT = {
    "PERSON": {"PERSON"}, "LOC": {"LOCATION", "ORGANIZATION"}, "ORG": {"ORGANIZATION", "LOCATION"},
    "DATETIME": {"DATE_TIME", "AGE"}, "CODE": _ANY, "DEM": _ANY, "QUANTITY": _ANY, "MISC": _ANY,
}


SAMPLE = Path(__file__).resolve().parents[2] / "eval" / "sample" / "presidio_research_heldout.jsonl"
# The sample's spans carry our types already (eval/sample/convert.py maps them as SYNTH_COMPAT does).
SAMPLE_COMPAT = {t: {t} for types in SYNTH_COMPAT.values() for t in types}


def handbook_dir() -> Path:
    """The handbook folder: ``$LETHE_HANDBOOK_DIR`` or ``shared`` beside the repository checkout."""
    from shared.config import setting

    env = setting("LETHE_HANDBOOK_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared"


def labelled_sets_dir() -> Path:
    """The folder of the outside labelled sets: ``data/pii`` in ``handbook_dir()``; may be absent."""
    return handbook_dir() / "data" / "pii"


def load_sample(path: Path = SAMPLE, limit: int | None = None) -> list[dict]:
    """The committed sample (``eval/sample/convert.py`` gives its shape) as ``score_synthetic`` records:
    ``{"full_text", "spans": [{"entity_type", "start_position", "end_position"}]}``, our types only
    (out-of-scope spans left out), in file order. :param limit: the first ``limit`` records only.
    :raises OSError: the file is absent. :raises ValueError: a line is not JSON."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines()[:limit]:
        rec = json.loads(line)
        records.append({"full_text": rec["text"], "spans": [
            {"entity_type": s["type"], "start_position": s["start"], "end_position": s["end"]}
            for s in rec["spans"] if s["type"] is not None]})
    return records


def evaluate_sample(engine, records: list[dict] | None = None) -> dict:
    """Print recall and precision per entity type and for the DIRECT group on the held-out sample
    (``load_sample()`` unless ``records``). :returns: the ``score_synthetic`` result."""
    records = load_sample() if records is None else records
    res = score_synthetic(records, engine.analyze_batch([r["full_text"] for r in records]), SAMPLE_COMPAT)
    _print_table(f"Held-out sample ({len(records)} texts, presidio-research synth_dataset_v2, MIT; "
                 "eval/sample; never tuned on)", res["rows"] + [res["direct"], res["all"]])
    return res


def f2(p: float, r: float) -> float:
    """F-beta with beta = 2; 0.0 when both are 0."""
    return 5 * p * r / (4 * p + r) if (4 * p + r) else 0.0


def _overlap(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1


def _row(name: str, n_exp: int, found: int, n_det: int, correct: int) -> dict:
    r = found / n_exp if n_exp else float("nan")
    p = correct / n_det if n_det else float("nan")
    return {"type": name, "expected": n_exp, "recall": r, "detected": n_det, "precision": p,
            "f2": f2(p, r) if n_exp and n_det else float("nan")}


def _print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"  {'type':<22}{'expected':>9}{'recall':>9}{'detected':>10}{'precision':>11}{'F2':>8}")
    for r in rows:
        print(f"  {r['type']:<22}{r['expected']:>9}{r['recall']:>9.3f}{r['detected']:>10}"
              f"{r['precision']:>11.3f}{r['f2']:>8.3f}")


def score_synthetic(records: list[dict], predictions: list[list], compat: dict | None = None) -> dict:
    """Per-label and overall figures for the synthetic set. :returns: {"rows": [...], "direct": row, "all": row}.

    :param compat: label -> compatible detected types (default ``SYNTH_COMPAT``); detections of other
        types are reported as out of scope and left out of the overall figures."""
    SYNTH_COMPAT = compat or globals()["SYNTH_COMPAT"]  # noqa: N806 - the same name in the body below
    per = defaultdict(lambda: [0, 0, 0, 0])  # n_exp, found, n_det, correct
    groups = {"direct": set(DIRECT_LABELS), "all": set(SYNTH_COMPAT)}
    agg = {g: [0, 0, 0, 0] for g in groups}
    for rec, dets in zip(records, predictions):
        spans = [s for s in rec["spans"] if s["entity_type"] in SYNTH_COMPAT]
        for s in spans:
            ok = any(d.type in SYNTH_COMPAT[s["entity_type"]]
                     and _overlap(d.start, d.end, s["start_position"], s["end_position"]) for d in dets)
            per[s["entity_type"]][0] += 1
            per[s["entity_type"]][1] += ok
            for g, labels in groups.items():
                if s["entity_type"] in labels:
                    agg[g][0] += 1
                    agg[g][1] += ok
        for d in dets:
            labels = [lab for lab, types in SYNTH_COMPAT.items() if d.type in types]
            if not labels:
                per["(out of scope) " + d.type][2] += 1
                continue
            ok = any(s["entity_type"] in labels
                     and _overlap(d.start, d.end, s["start_position"], s["end_position"]) for s in spans)
            per[labels[0] if len(labels) == 1 else d.type][2] += 1
            per[labels[0] if len(labels) == 1 else d.type][3] += ok
            for g, glabels in groups.items():
                if set(labels) & glabels:
                    agg[g][2] += 1
                    agg[g][3] += ok
    rows = [_row(k, *v) for k, v in sorted(per.items())]
    return {"rows": rows, "direct": _row("DIRECT (7 types)", *agg["direct"]),
            "all": _row("ALL in scope", *agg["all"])}


_WORD = re.compile(r"\w+")


def score_tab(docs: list[dict], predictions: list[list]) -> dict:
    """Mention recall (DIRECT, QUASI; typed and type-agnostic) and token precision on TAB."""
    counts = defaultdict(lambda: [0, 0, 0])  # n, found_typed, found_any
    masked_tokens = masked_ok = 0
    for doc, dets in zip(docs, predictions):
        mask_spans = []
        for e in doc["entities"]:
            kind = e["identifier_type"]
            if kind not in ("DIRECT", "QUASI"):
                continue
            s0, s1 = e["start_offset"], e["end_offset"]
            mask_spans.append((s0, s1))
            compat = TAB_COMPAT.get(e["entity_type"], _ANY)
            hit_any = [d for d in dets if _overlap(d.start, d.end, s0, s1)]
            typed = any(compat is _ANY or d.type in compat for d in hit_any)
            for key in (kind, f"{kind} {e['entity_type']}"):
                counts[key][0] += 1
                counts[key][1] += typed
                counts[key][2] += bool(hit_any)
        for d in dets:
            for m in _WORD.finditer(doc["text"], d.start, d.end):
                masked_tokens += 1
                masked_ok += any(_overlap(m.start(), m.end(), s0, s1) for s0, s1 in mask_spans)
    return {
        "recall": {k: {"n": v[0], "typed": v[1] / v[0], "any_type": v[2] / v[0]} for k, v in sorted(counts.items())},
        "token_precision": masked_ok / masked_tokens if masked_tokens else float("nan"),
        "masked_tokens": masked_tokens,
    }


def score_tricky(cases: list[dict], predictions: list[list]) -> list[tuple[str, bool]]:
    """``(kind, passed)`` per case: every expected entity detected with exact type and offsets."""
    out = []
    for case, dets in zip(cases, predictions):
        got = {(d.type, d.start, d.end) for d in dets}
        out.append((case["kind"], all((e["type"], e["start"], e["end"]) in got for e in case["expected"])))
    return out


def evaluate_generated(engine) -> None:
    """Print the repository's own figures: the generated labelled set (per type, per kind) and the
    generated negative set (texts with a false alarm)."""
    from .generated import generated_set
    from .negatives import PERSONAL_TYPES, negative_texts

    records = generated_set()
    preds = engine.analyze_batch([r["full_text"] for r in records])
    res = score_synthetic(records, preds)
    _print_table(f"Generated set ({len(records)} texts, Faker; services/anonymization/generated.py)",
                 res["rows"] + [res["direct"]])
    by_kind: dict[str, list] = defaultdict(lambda: [0, 0])
    for rec, found in zip(records, preds):
        for span in rec["spans"]:
            by_kind[rec["kind"]][0] += 1
            by_kind[rec["kind"]][1] += any(
                d.type in SYNTH_COMPAT[span["entity_type"]]
                and _overlap(d.start, d.end, span["start_position"], span["end_position"]) for d in found)
    print("  recall by kind: " + ", ".join(f"{k} {f / n:.3f} ({n})" for k, (n, f) in sorted(by_kind.items())))
    negatives = negative_texts(200)
    alarms = sum(any(d.type in PERSONAL_TYPES for d in found)
                 for found in engine.analyze_batch([t for _, t in negatives]))
    print(f"\nNegative set (code, logs, JSON ids, arithmetic; services/anonymization/negatives.py): "
          f"{alarms} of {len(negatives)} texts with a false alarm ({50 * alarms / len(negatives):.2f} per 50)")


def evaluate_languages(engine, n: int = 120, seed: int = 2026) -> dict[str, dict]:
    """Print recall and precision per entity type and per language on the generated language sets,
    and the false alarms on each language's negative set. :returns: lang -> ``score_synthetic`` result
    plus ``"alarms"`` (texts with a false alarm out of ``"negatives"``)."""
    from .generated import language_negatives, language_set
    from .negatives import PERSONAL_TYPES

    labels = ("PERSON", "STREET_ADDRESS", "PHONE_NUMBER", "IBAN_CODE", "NATIONAL_ID")
    out = {}
    for lang in LANGUAGES:
        records = language_set(lang, n, seed)
        res = score_synthetic(records, engine.analyze_batch([r["full_text"] for r in records]), LANGUAGE_COMPAT)
        negatives = language_negatives(lang, 50, seed)
        res["alarms"] = sum(any(d.type in PERSONAL_TYPES for d in found) for found in engine.analyze_batch(negatives))
        res["negatives"] = len(negatives)
        out[lang] = res
    print(f"\nGenerated language sets ({n} texts each, Faker locales; services/anonymization/generated.py): "
          "recall / precision")
    print(f"  {'lang':<6}" + "".join(f"{lab:>20}" for lab in labels) + f"{'ALL':>16}{'neg. alarms':>14}")
    for lang, res in out.items():
        rows = {r["type"]: r for r in res["rows"]}
        cells = "".join(f"{rows[lab]['recall']:>9.3f} / {rows[lab]['precision']:<8.3f}" if lab in rows
                        else f"{'-':>20}" for lab in labels)
        print(f"  {lang:<6}{cells}{res['all']['recall']:>7.3f} / {res['all']['precision']:<6.3f}"
              f"{res['alarms']:>6} of {res['negatives']}")
    return out


def main() -> int:
    """Print the tables; return 0. The generated sets always run; the handbook's when present."""
    from .engine import DetectionEngine

    engine = DetectionEngine()
    evaluate_generated(engine)
    evaluate_languages(engine)
    if SAMPLE.is_file():
        evaluate_sample(engine)
    else:
        print(f"\nHeld-out sample not found at {SAMPLE} (it is in the repository, not the package).")
    base = labelled_sets_dir()
    if not base.is_dir():
        print(f"\nHandbook data not found at {base} (set LETHE_HANDBOOK_DIR): its sets were not evaluated.")
        return 0
    print()
    synth = json.loads((base / "synth_pii_dev.json").read_text(encoding="utf-8"))
    if SAMPLE.is_file():
        shared_texts = {r["full_text"] for r in synth} & {r["full_text"] for r in load_sample()}
        print(f"Held-out sample sentences also in synth_pii_dev.json: {len(shared_texts)} (must be 0)")
    t0 = time.perf_counter()
    preds = engine.analyze_batch([r["full_text"] for r in synth])
    elapsed = time.perf_counter() - t0
    res = score_synthetic(synth, preds)
    _print_table(f"Synthetic set ({len(synth)} sentences, {len(synth) / elapsed:.0f} texts/s); "
                 f"out of scope: {', '.join(OUT_OF_SCOPE)}", res["rows"])
    _print_table("Synthetic set, overall", [res["direct"], res["all"]])

    docs = [json.loads(line) for line in (base / "tab_echr_dev.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    tab = score_tab(docs, engine.analyze_batch([d["text"] for d in docs], batch_size=8))
    print(f"\nTAB ECHR ({len(docs)} documents): mention recall")
    print(f"  {'identifier / type':<22}{'mentions':>9}{'typed':>9}{'any type':>10}")
    for k, v in tab["recall"].items():
        print(f"  {k:<22}{v['n']:>9}{v['typed']:>9.3f}{v['any_type']:>10.3f}")
    print(f"  token precision: {tab['token_precision']:.3f} over {tab['masked_tokens']} masked word tokens")

    cases = [json.loads(line) for line in (base / "tricky_cases.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    tricky = score_tricky(cases, engine.analyze_batch([c["text"] for c in cases]))
    print(f"\nTricky cases: {sum(ok for _, ok in tricky)}/{len(tricky)} pass")
    for kind, ok in tricky:
        print(f"  {'PASS' if ok else 'FAIL'}  {kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
