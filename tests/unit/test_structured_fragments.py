"""Structured fragments pasted into prompts: JSON (plain, indented, ASCII-escaped, JSON inside a JSON
string), ``key: value`` lines, query strings and XML. Values are typed by their key's meaning; ids,
counts and timestamps are left alone; a redacted JSON document still parses. Records are generated
with Faker in several locales (accented names become ``\\uXXXX`` escapes with ``ensure_ascii``)."""

from __future__ import annotations

import json
import random

import pytest
from faker import Faker

from services.anonymization.engine import DetectionEngine, deidentify


@pytest.fixture(scope="module")
def engine() -> DetectionEngine:
    eng = DetectionEngine(workers=1)
    yield eng
    eng.close()


def _records(n: int) -> list[dict]:
    rng = random.Random(4)
    out = []
    for i in range(n):
        fake = Faker(["en_US", "de_DE", "fr_FR", "es_ES"][i % 4])
        fake.seed_instance(i)
        first, last = fake.first_name(), fake.last_name()
        out.append({
            "order_id": rng.randint(10**8, 10**10), "created_at": rng.randint(1_500_000_000_000, 1_800_000_000_000),
            "customer": {
                "firstName" if i % 2 else "first_name": first, "last_name": last, "name": f"{first} {last}",
                "email": fake.email(), "phone": fake.phone_number(), "address": fake.street_address(),
                "city": fake.city(),
            },
            "items": [{"product_id": rng.randint(10**6, 10**11), "qty": rng.randint(1, 9)}],
        })
    return out


PERSONAL = ("first_name", "firstName", "last_name", "name", "email", "phone", "address", "city")


def _strings(obj):
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)
    elif isinstance(obj, str):
        yield obj


def _check(record: dict, parsed: dict, failures: list) -> None:
    if parsed["order_id"] != record["order_id"] or parsed["created_at"] != record["created_at"]:
        failures.append(("id changed", record["order_id"]))
    if parsed["items"][0]["product_id"] != record["items"][0]["product_id"]:
        failures.append(("product id changed", record["items"][0]["product_id"]))
    leaked = [k for k in PERSONAL if k in record["customer"]
              and any(record["customer"][k] in s for s in _strings(parsed))]
    if leaked:
        failures.append(("leaked", leaked, parsed["customer"]))


@pytest.mark.parametrize("style", ["compact", "indented", "ascii", "nested_string"])
def test_json_records_are_redacted_by_key_and_stay_parseable(engine, style):
    records = _records(24)
    if style == "compact":
        texts = [json.dumps(r, ensure_ascii=False) for r in records]
    elif style == "indented":
        texts = [f"Here is the payload:\n{json.dumps(r, indent=2, ensure_ascii=False)}\nwhy does it fail?" for r in records]
    elif style == "ascii":
        texts = [json.dumps(r) for r in records]
    else:
        texts = [json.dumps({"body": json.dumps(r, ensure_ascii=False)}, ensure_ascii=False) for r in records]
    failures: list = []
    for record, text, dets in zip(records, texts, engine.analyze_batch(texts)):
        redacted = deidentify(text, dets)
        try:
            if style == "indented":
                redacted = redacted[redacted.index("{"):redacted.rindex("}") + 1]
            parsed = json.loads(redacted)
            if style == "nested_string":
                parsed = json.loads(parsed["body"])
        except ValueError as exc:
            failures.append(("not JSON", str(exc), redacted))
            continue
        _check(record, parsed, failures)
    assert len(failures) <= 1, failures[:3]


def test_an_escaped_email_in_json_stays_valid_json(engine):
    for text in ('{"to": "\\njane.roe@example.com", "cc": "\\tbob@example.org"}',
                 '{"to": "jane\\u0040example.com"}', '{"msg": "write to \\"jane.roe@example.com\\" now"}'):
        redacted = deidentify(text, engine.analyze(text))
        parsed = json.loads(redacted)
        assert "jane" not in json.dumps(parsed) and "bob@" not in redacted, redacted


def test_a_bare_json_number_is_replaced_by_a_json_string(engine):
    text = '{"phone": 4155550132, "order_id": 4155550133}'
    parsed = json.loads(deidentify(text, engine.analyze(text)))
    assert parsed == {"phone": "<PHONE_NUMBER>", "order_id": 4155550133}


def test_key_value_lines_query_strings_and_xml_are_typed_by_key(engine):
    fake = Faker("en_US")
    fake.seed_instance(3)
    for _ in range(10):
        first, last = fake.first_name().lower(), fake.last_name().lower()
        phone = "".join(c for c in fake.basic_phone_number() if c.isdigit())[-10:]
        texts = [
            f"first_name: {first}\nlast_name: {last}\nphone: {phone}\norder_id: {phone}",
            f"GET /signup?name={first.title()}+{last.title()}&email={first}%40example.com&order_id={phone}",
            f"<customer><surname>{last}</surname><givenName>{first}</givenName><sku>{phone}</sku></customer>",
        ]
        for text in texts:
            redacted = deidentify(text, engine.analyze(text))
            assert first not in redacted.lower() and last not in redacted.lower(), redacted
            assert phone in redacted, redacted  # the id keeps its digits
