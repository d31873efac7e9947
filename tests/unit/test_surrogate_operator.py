"""The reversible surrogate operator: realistic, stable per (session key, value), unambiguous,
unlinkable across keys, and recoverable only with the session key (generated values, many keys)."""

from __future__ import annotations

import csv
import io
import json
import os
import re

import pytest
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st

from services.anonymization.engine import Detected, deidentify
from services.anonymization.operators import SurrogateOperator, normalise_value, reidentify
from services.anonymization.surrogates import seal, unseal

TYPES = ["PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "LOCATION", "ORGANIZATION", "CREDIT_CARD",
         "IBAN_CODE", "US_SSN", "IP_ADDRESS", "URL", "DATE_TIME", "ID_NUMBER", "SECRET", "NRP", "AGE"]


def _values(seed: int, n: int) -> list[tuple[str, str]]:
    fake = Faker(["en_US", "en_GB"])
    fake.seed_instance(seed)
    makers = {"PERSON": fake.name, "EMAIL_ADDRESS": fake.email, "PHONE_NUMBER": fake.phone_number,
              "LOCATION": fake.city, "ORGANIZATION": fake.company, "CREDIT_CARD": fake.credit_card_number,
              "IBAN_CODE": fake.iban, "US_SSN": fake.ssn, "IP_ADDRESS": fake.ipv4,
              "URL": fake.url, "DATE_TIME": fake.date, "ID_NUMBER": lambda: fake.bothify("??######"),
              "SECRET": lambda: fake.password(12), "NRP": lambda: "Scottish",
              "AGE": lambda: str(fake.random_int(1, 99))}
    return [(t, makers[t]()) for t in (TYPES * (n // len(TYPES) + 1))[:n]]


def test_a_surrogate_is_stable_per_key_and_value_and_of_the_same_kind():
    key = os.urandom(32)
    for etype, value in _values(1, 300):
        first = SurrogateOperator().operate(etype, value, key)
        assert SurrogateOperator().operate(etype, value, key) == first
        assert SurrogateOperator().operate(etype, f"  {value.upper() if etype == 'EMAIL_ADDRESS' else value} ",
                                           key) == first
        assert first != value and not set(first) & set(',;"<>\\\t\n')
        if etype == "EMAIL_ADDRESS":
            assert re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", first)
        if etype == "PERSON":
            assert len(first.split()) == min(len(value.split()), 4) and first.istitle()
        if etype in ("CREDIT_CARD", "US_SSN", "PHONE_NUMBER"):
            assert sum(c.isdigit() for c in first) >= 9


@pytest.mark.parametrize("seed", range(5))
def test_text_with_surrogates_round_trips_exactly_through_a_sealed_map(seed):
    key, session = os.urandom(32), f"s-{seed}"
    values = _values(seed, 120)
    text = " | ".join(f"{t}: {v}" for t, v in values)
    entities, cursor = [], 0
    for etype, value in values:
        start = text.index(value, cursor)
        entities.append(Detected(etype, start, start + len(value), 0.9))
        cursor = start + len(value)
    op = SurrogateOperator()
    redacted = deidentify(text, entities, op, key)
    for _t, value in values:
        if len(value) > 4:  # a short date or age may be drawn as another value's surrogate, no more
            assert value not in redacted or value in op.mapping
    opened = unseal(seal(op.mapping, key, session), key, session)
    back, counts = reidentify(redacted, opened)
    assert back == text
    assert sum(counts.values()) == len(values)


def test_the_map_opens_only_with_its_key_and_session_and_unaltered():
    key = os.urandom(32)
    op = SurrogateOperator()
    op.operate("PERSON", "Jane Roe", key)
    blob = seal(op.mapping, key, "session-1")
    assert b"Jane" not in blob and b"Roe" not in blob
    for bad_key, bad_session, bad_blob in [(os.urandom(32), "session-1", blob), (key, "session-2", blob),
                                           (key, "session-1", blob[:-1] + bytes([blob[-1] ^ 1])),
                                           (key, "session-1", blob[:10]), (key, "session-1", b"")]:
        with pytest.raises(ValueError) as e:
            unseal(bad_blob, bad_key, bad_session)
        assert "Jane" not in str(e.value)


def test_surrogates_are_unlinkable_across_session_keys():
    """Across keys, the same value's surrogates agree no more often than two different values'."""
    values = [v for t, v in _values(7, 400) if t == "PERSON"] * 1
    keys = [os.urandom(32) for _ in range(40)]
    same = diff = 0
    for a, b in zip(keys, keys[1:]):
        for i, v in enumerate(values):
            w = values[(i + 1) % len(values)]
            sa = SurrogateOperator().operate("PERSON", v, a)
            same += sa == SurrogateOperator().operate("PERSON", v, b)
            diff += sa == SurrogateOperator().operate("PERSON", w, b)
    pairs = (len(keys) - 1) * len(values)
    assert same <= max(3, 3 * diff + 0.01 * pairs), (same, diff, pairs)
    assert same / pairs < 0.02


def test_a_surrogate_never_names_two_values_even_when_draws_collide():
    """Single-digit ages and short ids collide often: every value still gets its own surrogate."""
    key = os.urandom(32)
    op = SurrogateOperator()
    values = [str(i) for i in range(10, 80)]
    out = [op.operate("AGE", v, key) for v in values]
    assert len(set(out)) == len(out)
    assert [op.mapping[s][1] for s in out] == values
    # The earlier map of the session keeps the same surrogates in a later turn.
    later = SurrogateOperator(op.mapping)
    assert [later.operate("AGE", v, key) for v in values] == out


@settings(max_examples=150, deadline=None)
@given(words=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=8),
       noise=st.text(max_size=60))
def test_reidentify_puts_back_exactly_what_was_replaced_for_any_text(words, noise):
    """Values stand apart from letters and digits (a surrogate is put back as a whole word only)."""
    key = bytes(32)
    noise = f" {noise} "
    values = [w for w in dict.fromkeys(words) if w.strip()]
    text = noise.join(values) + noise
    entities, cursor = [], 0
    for v in values:
        start = text.index(v, cursor)
        entities.append(Detected("ID_NUMBER", start, start + len(v), 0.9))
        cursor = start + len(v)
    entities = [d for d in entities if normalise_value("ID_NUMBER", text[d.start:d.end])]
    op = SurrogateOperator()
    try:
        redacted = deidentify(text, entities, op, key)
    except ValueError:
        return  # a value with no letter or digit has too few shapes: refused, never ambiguous
    back, counts = reidentify(redacted, op.mapping)
    if not any(s in text for s in op.mapping):  # a surrogate the text already held is put back too
        assert back == text and sum(counts.values()) == len(entities)


def test_surrogates_keep_csv_and_json_well_formed():
    key = os.urandom(32)
    fake = Faker("en_US")
    for seed in range(30):
        fake.seed_instance(seed)
        row = [fake.name(), fake.company(), fake.street_address().replace("\n", " "), fake.email()]
        types = ["PERSON", "ORGANIZATION", "LOCATION", "EMAIL_ADDRESS"]
        buf = io.StringIO()
        csv.writer(buf).writerows([["name", "company", "address", "email"], row])
        doc = buf.getvalue() + json.dumps({"name": row[0], "company": row[1]})
        entities, cursor = [], 0
        for t, v in list(zip(types, row)) + [("PERSON", row[0]), ("ORGANIZATION", row[1])]:
            start = doc.index(v, cursor)
            entities.append(Detected(t, start, start + len(v), 0.9))
            cursor = start + len(v)
        out = deidentify(doc, entities, SurrogateOperator(), key)
        csv_part, json_part = out[:out.index("{")], out[out.index("{"):]
        rows = list(csv.reader(io.StringIO(csv_part)))
        assert [len(r) for r in rows] == [4, 4]
        assert set(json.loads(json_part)) == {"name", "company"}


@settings(max_examples=100, deadline=None)
@given(values=st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=40), max_size=10),
       session=st.text(max_size=20))
def test_any_map_seals_and_opens_to_itself(values, session):
    """Any values, lone surrogate code points and NULs included, and any session id round-trip."""
    key = os.urandom(32)
    mapping = {s: ("PERSON", v) for s, v in values.items()}
    try:
        session.encode("utf-8")
    except UnicodeEncodeError:
        return  # a session id arrives over gRPC as valid UTF-8
    assert unseal(seal(mapping, key, session), key, session) == mapping
