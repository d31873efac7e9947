"""Property-based fuzzing of the JSONL reader of ``lethe ingest`` (``cli.reader``) over raw bytes.

* ``parse_line`` returns an Interaction or raises LineError with a known reason; never anything else,
  and the error never echoes the line (a canary string in the input never appears in it).
* ``read_lines`` splits any byte stream exactly like a simple model: one line per ``\\n``, blank
  lines skipped, line numbers counted over every physical line, ``\\r`` before the newline dropped,
  and a line of more than MAX_LINE_BYTES is reported as too large (never cut and parsed, never
  dropped, never merged with the next one). The model test shrinks MAX_LINE_BYTES so that the
  boundary is hit often; one test runs the real limit.

Examples per test: ``LETHE_FUZZ_EXAMPLES`` x 8 (cheap, in-process).
"""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cli.reader as reader
from cli.reader import LineError, parse_line, read_lines
from shared.gen.lethe.v1 import ingestion_pb2

EXAMPLES = int(os.environ.get("LETHE_FUZZ_EXAMPLES", "25")) * 8
CANARY = "Zq9CanaryXj4"
REASONS = {"LINE_TOO_LARGE", "NOT_UTF8", "NOT_JSON", "NOT_OBJECT", "FIELD_TYPE", "TIMESTAMP_INVALID"}
FIELDS = ["account_id", "session_hint", "client_ip", "user_agent", "region", "kind", "prompt",
          "response", "contact", "timestamp"]
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                database=None)
CASES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def count_cases(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    line = f"fuzz: {sum(CASES.values())} reader cases ({dict(CASES)})"
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        print("\n" + line, flush=True)


_text = st.text(max_size=30)  # includes lone surrogates: json.dumps escapes them as \udXXX
_json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _text,
                         st.just(CANARY), _text.map(lambda t: t + CANARY))
_json_value = st.recursive(_json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)), max_leaves=10)
_timestamps = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["2026-11-01T10:00:00Z", "0001-01-01T00:00:00+14:00",
                     "9999-12-31T23:59:59-14:00", "Z", "", "2026-13-01T00:00:00Z",
                     "2026-11-01T10:00:00.123456789Z", f"2026-11-01T{CANARY}Z"]),
    _json_value)
_objects = st.fixed_dictionaries({}, optional={
    **{f: st.one_of(_text.map(lambda t: CANARY + t), _json_value) for f in FIELDS[:-1]},
    "timestamp": _timestamps, "extra": _json_value})


@st.composite
def _lines(draw: Any) -> bytes:
    """A raw line: random bytes, a JSON object (maybe mangled), or nested/odd JSON."""
    kind = draw(st.sampled_from(["bytes", "object", "object", "mangled", "value", "deep"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200)) + CANARY.encode()
    if kind == "value":
        return json.dumps(draw(_json_value)).encode()
    if kind == "deep":
        n = draw(st.integers(1, 100_000))
        return b"[" * n + b"]" * draw(st.integers(0, n))
    obj = draw(_objects)
    raw = json.dumps(obj, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if kind == "mangled" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=4)) + raw[at + 1:]
    return raw


def _check_parse(raw: bytes, lineno: int = 7) -> None:
    try:
        message = parse_line(raw, lineno)
    except LineError as exc:
        assert exc.reason in REASONS, exc.reason
        assert exc.lineno == lineno
        assert CANARY not in str(exc) and CANARY not in exc.reason
        return
    assert isinstance(message, ingestion_pb2.Interaction)
    assert message.sequence == lineno
    message.SerializeToString()  # a message the CLI can actually send


@FUZZ
@given(raw=_lines())
def test_parse_line_returns_an_interaction_or_a_line_error(raw: bytes) -> None:
    CASES["parse_line"] += 1
    _check_parse(raw)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_parse_line_on_random_bytes(raw: bytes) -> None:
    CASES["parse_line_bytes"] += 1
    _check_parse(raw)


def _model(data: bytes, limit: int) -> list[tuple[int, bytes | None]]:
    """(line number, raw line) per non-blank line; None for a line over ``limit`` bytes."""
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    out: list[tuple[int, bytes | None]] = []
    for n, part in enumerate(parts, start=1):
        if not part.strip():
            continue
        out.append((n, None if len(part) > limit else part.rstrip(b"\r")))
    return out


_pieces = st.lists(st.one_of(
    st.binary(max_size=12), st.sampled_from([b"\n", b"\r\n", b"\r", b" ", b"\t", b"\n\n", b"{}"]),
    st.tuples(st.integers(0, 80), st.sampled_from([b"x", b" ", b"\r", b"\n"])).map(lambda p: p[1] * p[0]),
), max_size=30).map(b"".join)


@FUZZ
@given(data=_pieces, limit=st.integers(1, 40))
def test_read_lines_matches_the_line_model(data: bytes, limit: int,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    CASES["read_lines"] += 1
    monkeypatch.setattr(reader, "MAX_LINE_BYTES", limit)
    got = list(read_lines(io.BytesIO(data)))
    expected = _model(data, limit)
    assert [n for n, _ in got] == [n for n, _ in expected]
    for (n, raw), (_, want) in zip(got, expected, strict=True):
        if want is None:  # too large: reported as such, whatever it contains
            with pytest.raises(LineError) as exc:
                parse_line(raw, n)
            assert exc.value.reason == "LINE_TOO_LARGE"
        else:
            assert raw == want
            assert len(raw) <= limit


@settings(max_examples=max(5, EXAMPLES // 40), deadline=None,
          suppress_health_check=list(HealthCheck), database=None)
@given(before=st.integers(0, 3), tail=st.sampled_from([b"", b"\r", b"\r\r", b" ", b"x"]),
       extra=st.integers(-2, 2))
def test_read_lines_at_the_real_limit(before: int, tail: bytes, extra: int) -> None:
    CASES["read_lines_1MiB"] += 1
    limit = reader.MAX_LINE_BYTES
    good = json.dumps({"account_id": "a", "prompt": "p", "region": "EU"}).encode()
    big = (b'{"prompt": "' + b"y" * (limit + extra - 14) + b'"}')[:limit + extra] + tail
    data = b"\n".join([good] * before + [big, good]) + b"\n"
    got = list(read_lines(io.BytesIO(data)))
    expected = _model(data, limit)
    assert [n for n, _ in got] == [n for n, _ in expected]
    for (n, raw), (_, want) in zip(got, expected, strict=True):
        if want is None:
            with pytest.raises(LineError) as exc:
                parse_line(raw, n)
            assert exc.value.reason == "LINE_TOO_LARGE"
        else:
            assert raw == want
