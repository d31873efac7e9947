"""De-identification operators: presidio-anonymizer's Replace and Mask behind Lethe's operator names,
and Lethe's pseudonym usable inside Presidio's AnonymizerEngine with the same output."""

from __future__ import annotations

import pytest

from services.anonymization.engine import Detected, deidentify
from services.anonymization.operators import MaskOperator, PresidioPseudonymOperator, PseudonymOperator


def test_mask_hides_every_character_and_keeps_the_length():
    text = "Jane Roe, jane@example.com"
    out = deidentify(text, [Detected("PERSON", 0, 8, 0.9), Detected("EMAIL_ADDRESS", 10, 26, 1.0)], operator="mask")
    assert out == "********, " + "*" * 16


@pytest.mark.parametrize("card", ["4111 1111 1111 1234", "4111-1111-1111-1234", "4111111111111234"])
def test_a_masked_card_keeps_only_its_last_four_digits(card):
    masked = MaskOperator().operate("CREDIT_CARD", card, None)
    assert masked.endswith("1234") and len(masked) == len(card) and set(masked[:-4]) == {"*"}


def test_placeholder_is_unchanged():
    assert deidentify("Jane Roe", [Detected("PERSON", 0, 8, 0.9)]) == "<PERSON>"


def test_lethe_pseudonym_inside_presidio_anonymizer_gives_the_same_surrogate():
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

    key = bytes(range(32))
    engine = AnonymizerEngine()
    engine.add_anonymizer(PresidioPseudonymOperator)
    out = engine.anonymize("Hi Jane Roe", [RecognizerResult("PERSON", 3, 11, 0.9)],
                           {"PERSON": OperatorConfig("lethe_pseudonym", {"key": key, "entity_type": "PERSON"})})
    assert out.text == "Hi " + PseudonymOperator().operate("PERSON", "Jane Roe", key)
    with pytest.raises(ValueError):
        PresidioPseudonymOperator().validate({"key": b"short"})
