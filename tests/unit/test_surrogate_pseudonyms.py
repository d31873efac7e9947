"""The pseudonym operator with a map (the gateway's ``--forward redacted``): two values whose first 8
hex digits collide still get two pseudonyms, each put back exactly, and a value keeps its pseudonym
in every turn. The collision is searched for, not hoped for: about 2^16 generated values under a
fixed key give one (birthday bound), so the test is the same on every run."""

from __future__ import annotations

import hashlib
import hmac

from faker import Faker

from services.anonymization.engine import Detected, deidentify
from services.anonymization.operators import PseudonymOperator, normalise_value, reidentify


def _colliding(key: bytes) -> tuple[str, str]:
    """Two distinct generated e-mail addresses whose pseudonyms' first 8 hex digits are equal."""
    fake = Faker("en_US")
    fake.seed_instance(7)
    stem, seen = fake.user_name(), {}
    for i in range(1 << 20):
        value = f"{stem}.{i}@example.org"
        message = f"EMAIL_ADDRESS\x1f{normalise_value('EMAIL_ADDRESS', value)}".encode("utf-8")
        head = hmac.new(key, message, hashlib.sha256).hexdigest()[:8]
        if head in seen:
            return seen[head], value
        seen[head] = value
    raise AssertionError("no collision in 2^20 values")


def test_two_values_with_colliding_digests_get_two_pseudonyms_put_back_exactly():
    key = hashlib.sha256(b"pseudonym collision").digest()
    first, second = _colliding(key)
    assert PseudonymOperator().operate("EMAIL_ADDRESS", first, key) == PseudonymOperator().operate(
        "EMAIL_ADDRESS", second, key)  # without a map both get the digest's first 8 hex digits
    text = f"Write to {first} or {second}; again: {second}, {first}."
    entities = []
    for value in (first, second, second, first):
        start = text.index(value, entities[-1].end if entities else 0)
        entities.append(Detected("EMAIL_ADDRESS", start, start + len(value), 0.9))
    made: dict[str, tuple[str, str]] = {}
    redacted = deidentify(text, entities, PseudonymOperator(mapping=made), key)
    assert len(made) == 2 and first not in redacted and second not in redacted
    back, counts = reidentify(redacted, made)
    assert back == text and counts["EMAIL_ADDRESS"] == 4
    # the next turn re-sends the conversation: the same pseudonyms, in the same order
    again: dict[str, tuple[str, str]] = {}
    assert deidentify(text, entities, PseudonymOperator(mapping=again), key) == redacted
