"""The JSON Lines reader of ``lethe ingest`` (docs/design.md §6): one interaction per line.

A bad line (not UTF-8, not JSON, not an object, a field of the wrong type, too large) raises
:class:`LineError` naming the line number and the reason, never the line's content; the caller
reports it and goes on with the next line. Semantic checks (empty prompt, bad IP, ...) are the
ingestion service's, so that every client gets the same rules.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import IO, Any

from shared import limits
from shared.gen.lethe.v1 import ingestion_pb2

MAX_LINE_BYTES = limits.MAX_LINE_BYTES
_STRING_FIELDS = ("account_id", "session_hint", "client_ip", "user_agent", "region", "kind",
                  "prompt", "response", "contact")


class LineError(Exception):
    """A line that cannot become an interaction: ``lineno`` (from 1) and an UPPER_SNAKE ``reason``."""

    def __init__(self, lineno: int, reason: str, message: str) -> None:
        super().__init__(f"line {lineno}: {message}")
        self.lineno = lineno
        self.reason = reason
        self.detail = message


def parse_timestamp(value: str) -> dt.datetime:
    """ISO 8601 with a time zone (``Z`` allowed) as an aware UTC datetime; ValueError otherwise."""
    when = dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    if when.tzinfo is None:
        raise ValueError("timestamp needs a time zone")
    return when.astimezone(dt.timezone.utc)


def parse_line(raw: bytes, lineno: int) -> ingestion_pb2.Interaction:
    """Turn one raw line into an Interaction proto; raises LineError."""
    if len(raw) > MAX_LINE_BYTES:
        raise LineError(lineno, "LINE_TOO_LARGE", f"line exceeds {MAX_LINE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise LineError(lineno, "NOT_UTF8", "line is not valid UTF-8") from None
    try:
        obj: Any = json.loads(text)
    except (ValueError, RecursionError):
        raise LineError(lineno, "NOT_JSON", "line is not valid JSON") from None
    if not isinstance(obj, dict):
        raise LineError(lineno, "NOT_OBJECT", "line is not a JSON object")
    fields: dict[str, Any] = {}
    for name in _STRING_FIELDS:
        value = obj.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise LineError(lineno, "FIELD_TYPE", f"field {name} must be a string")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise LineError(lineno, "NOT_UTF8", f"field {name} is not valid UTF-8") from None
        fields[name] = value
    message = ingestion_pb2.Interaction(sequence=lineno, **fields)
    timestamp = obj.get("timestamp")
    if timestamp not in (None, ""):
        if not isinstance(timestamp, str):
            raise LineError(lineno, "FIELD_TYPE", "field timestamp must be a string")
        try:
            message.occurred_at.FromDatetime(parse_timestamp(timestamp))
        except (ValueError, OverflowError):
            raise LineError(lineno, "TIMESTAMP_INVALID", "timestamp is not ISO 8601 with a zone") from None
    return message


def read_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, raw bytes without the newline) for non-blank lines.

    Lines longer than MAX_LINE_BYTES (not counting the ``\n``) are cut there and yielded as they
    are, MAX_LINE_BYTES + 1 bytes, so that parse_line rejects them as LINE_TOO_LARGE: never
    stripped back under the limit and parsed, never dropped because their first part is blank.
    Memory stays bounded whatever the input.
    """
    lineno = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        lineno += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            blank = not raw.strip()
            while True:  # skip the rest of the oversized line
                rest = stream.readline(MAX_LINE_BYTES)
                if not rest:
                    break
                blank = blank and not rest.strip()
                if rest.endswith(b"\n"):
                    break
            if not blank:
                yield lineno, raw
            continue
        raw = raw.rstrip(b"\r\n")
        if raw.strip():
            yield lineno, raw
