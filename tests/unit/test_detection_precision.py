"""Numbers that are not personal data stay in the text; real phone numbers and cards are still found.

The negative set is generated (``services.anonymization.negatives``): code, logs, SQL, metrics, CSV,
JSON with order/product/batch ids, epoch timestamps in milliseconds, versions, hashes, arithmetic,
loopback and documentation IP addresses. The issue's bar: no more than 1 false alarm in 50 texts;
every seed is held to it, and every kind must be clean on its own.
"""

from __future__ import annotations

import pytest

from services.anonymization.engine import DetectionEngine
from services.anonymization.negatives import PERSONAL_TYPES, negative_texts


@pytest.fixture(scope="module")
def engine() -> DetectionEngine:
    eng = DetectionEngine(workers=1)
    yield eng
    eng.close()


def _false_alarms(engine, texts):
    out = []
    for (kind, text), dets in zip(texts, engine.analyze_batch([t for _, t in texts])):
        hits = [(d.type, text[d.start:d.end]) for d in dets if d.type in PERSONAL_TYPES]
        if hits:
            out.append((kind, hits))
    return out


@pytest.mark.parametrize("seed", [12, 2024, 7])
def test_at_most_one_false_alarm_in_fifty_numeric_texts(engine, seed):
    alarms = _false_alarms(engine, negative_texts(50, seed))
    assert len(alarms) <= 1, alarms


@pytest.mark.parametrize("text", [
    "ts=1712064927770 took 4213ms", "order 9577659696 shipped", '{"product_id": 37950243862, "qty": 3}',
    "batch_id=8740443512 done", "What is 36847065 + 1234? I got 36848299.", "Upgrading from 11.26.169 to 12.0.1",
    "commit 0961351 (short 0961351)", "GET http://127.0.0.1:8080/api from 192.0.2.17 and 198.51.100.4",
    "proxy at 203.0.113.250:3128 and ::1:9703", "tracking 575403383945 and invoice 2022-331084",
    "sum is 22814744624311", "sha256 3206279634895623ab...", "id,qty,amount\n87026096,3,120.50",
])
def test_each_kind_of_non_personal_number_is_left_alone(engine, text):
    assert [(d.type, text[d.start:d.end]) for d in engine.analyze(text) if d.type in PERSONAL_TYPES] == []


@pytest.mark.parametrize("text,value", [
    ("Call me on 5403926876 tonight", "5403926876"),
    ("Desk: 5403926876", "5403926876"),
    ("my mobile is 07700 900461", "07700 900461"),
    ("reach me at (415) 555-0132", "(415) 555-0132"),
    ("+44 20 7946 0018 is the office", "+44 20 7946 0018"),
    ("phone: 01.84.17.61.18", "01.84.17.61.18"),
    ("fax 930.167.3943", "930.167.3943"),
])
def test_a_phone_with_a_phone_shape_or_cue_is_still_a_phone(engine, text, value):
    assert ("PHONE_NUMBER", value) in [(d.type, text[d.start:d.end]) for d in engine.analyze(text)]


@pytest.mark.parametrize("text,value", [
    ("Amex 371449635398431 please", "371449635398431"), ("I have lost my card 4012888888881881", "4012888888881881"),
    ("What is the limit for card 501800000009", "501800000009"), ("ticket 501800000009 closed", None),
    ("sum is 30569309025904 here", None), ("my credit card 30569309025904", "30569309025904"),
])
def test_cards_need_a_brand_length_and_short_ones_a_cue(engine, text, value):
    from services.anonymization.recognizers.credit_card import luhn_ok

    found = [text[d.start:d.end] for d in engine.analyze(text) if d.type == "CREDIT_CARD"]
    assert found == ([value] if value else [])
    assert value is None or luhn_ok(value)


def test_a_real_ip_next_to_documentation_ones_is_still_found(engine):
    text = "blocked 81.2.69.160 (not 192.0.2.1 nor 127.0.0.1)"
    assert [text[d.start:d.end] for d in engine.analyze(text) if d.type == "IP_ADDRESS"] == ["81.2.69.160"]


def test_the_generated_labelled_set_meets_the_issue_bar(engine):
    """``make eval`` from the repository alone: direct identifiers on the generated set, right type,
    recall >= 0.95 at precision >= 0.92 (the issue's bar for English)."""
    from services.anonymization.evaluate import score_synthetic
    from services.anonymization.generated import generated_set

    records = generated_set(200, seed=99)
    direct = score_synthetic(records, engine.analyze_batch([r["full_text"] for r in records]))["direct"]
    assert direct["recall"] >= 0.95 and direct["precision"] >= 0.92, direct
