"""Aggregation releases only k-anonymous statistics; the JSONL reader rejects bad lines by number."""

from __future__ import annotations

import io

import pytest

from cli.reader import LineError, parse_line, read_lines
from services.anonymization.aggregation import aggregate, keywords


def test_keywords_never_include_placeholders_or_numbers() -> None:
    assert keywords("Call <PHONE_NUMBER> about gardening 2026 <PERSON_3fa9c1d2>") == {"call", "gardening"}


def test_a_keyword_is_released_only_with_k_distinct_subjects() -> None:
    inputs = [(f"sr_{n:032x}", "gardening tips") for n in range(10)]
    inputs += [("sr_" + "f" * 32, "rareword rareword")] * 20
    released, suppressed = aggregate(inputs, k=10)
    assert [(s.keyword, s.subject_count) for s in released] == [("gardening", 10), ("tips", 10)]
    assert suppressed == 1


def test_k_below_two_is_refused() -> None:
    with pytest.raises(ValueError):
        aggregate([], k=1)


@pytest.mark.parametrize("raw,reason", [
    (b"{not json", "NOT_JSON"),
    (b"[1, 2]", "NOT_OBJECT"),
    (b'{"prompt": 5}', "FIELD_TYPE"),
    (b'{"prompt": "\xff"}', "NOT_UTF8"),
    (b'{"prompt": "\\ud800"}', "NOT_UTF8"),
    (b'{"timestamp": "yesterday"}', "TIMESTAMP_INVALID"),
    (b'{"timestamp": "2026-11-01T10:00:00"}', "TIMESTAMP_INVALID"),
])
def test_bad_lines_raise_with_their_number_and_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(LineError) as exc:
        parse_line(raw, 7)
    assert exc.value.lineno == 7 and exc.value.reason == reason


def test_oversized_lines_are_cut_and_counted() -> None:
    stream = io.BytesIO(b'{"a": 1}\n' + b"x" * (2 * 1024 * 1024) + b"\n\n" + b'{"b": 2}\n')
    lines = list(read_lines(stream))
    assert [n for n, _ in lines] == [1, 2, 4]
    with pytest.raises(LineError):
        parse_line(lines[1][1], 2)
