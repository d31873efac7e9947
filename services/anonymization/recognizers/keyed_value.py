"""Values of structured fragments typed by their key: JSON members, ``key: value`` lines, query-string
parameters and XML elements (``{"first_name": "marta"}``, ``last_name: kowalski``, ``?name=Jane+Roe``,
``<surname>Roe</surname>``). The key's meaning (``services.anonymization.structured``) gives the
type; the value's shape must fit it. Spans cover the value only, never its quotes, so a redacted JSON
document stays parseable."""

from __future__ import annotations

import re
from typing import Optional

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from ..structured import key_meaning
from .base import compile_linear

_FRAGMENTS = [
    # JSON member with a string value (escapes kept inside the value).
    ("json", r'"(?P<k>[A-Za-z_][A-Za-z0-9_ .-]{0,40})"[ \t]*:[ \t]*"(?P<v>(?:[^"\\\n]|\\[^\n]){1,300})"'),
    # The same inside a JSON string (``"{\\"name\\": \\"Jane Roe\\"}"``): quotes escaped.
    ("json_escaped", r'\\"(?P<k>[A-Za-z_][A-Za-z0-9_ .-]{0,40})\\"[ \t]*:[ \t]*\\"(?P<v>(?:[^"\\\n]|\\[^"\n]){1,300})\\"'),
    # JSON member with a bare number (``"phone": 5551234567``).
    ("json_number", r'\\?"(?P<k>[A-Za-z_][A-Za-z0-9_ .-]{0,40})\\?"[ \t]*:[ \t]*(?P<v>[0-9][0-9 ]{0,30}[0-9])'),
    # ``key: value`` / ``key = value`` at the start of a line (YAML, .env, headers, forms).
    ("line", r"(?m)^[ \t>*-]*(?P<k>[A-Za-z_][A-Za-z0-9_.-]{0,40})[ \t]*[:=][ \t]*(?P<v>[^\n\"'{}\[\]]{1,200})"),
    # Query-string parameter.
    ("query", r"(?:[?&;]|^|[ \t])(?P<k>[A-Za-z_][A-Za-z0-9_.-]{0,40})=(?P<v>[^&;\s#\"'<>]{1,200})"),
    # XML/HTML element with text content.
    ("xml", r"<(?P<k>[A-Za-z_][A-Za-z0-9_.:-]{0,40})(?:[ \t][^<>\n]{0,200})?>(?P<v>[^<\n]{1,200})"
            r"</(?P<k2>[A-Za-z_][A-Za-z0-9_.:-]{0,40})>"),
]
_NAME_VALUE = re.compile(r"[^\W\d_][\w'’.-]*(?:(?:[ \t]+|\+|%20)[^\W\d_][\w'’.-]*){0,4}")
_ESCAPED_NAME = re.compile(r"(?:[^\W\d_]|\\u[0-9A-Fa-f]{4})(?:[\w'’.-]|\\u[0-9A-Fa-f]{4})*"
                           r"(?:(?:[ \t]+|\+|%20)(?:[^\W\d_]|\\u[0-9A-Fa-f]{4})(?:[\w'’.-]|\\u[0-9A-Fa-f]{4})*){0,4}")
_PHONE_VALUE = re.compile(r"\+?[0-9 ().-]{7,24}")
_SSN_VALUE = re.compile(r"[0-9]{3}[ -]?[0-9]{2}[ -]?[0-9]{4}")
_EMPTY = frozenset({"null", "none", "true", "false", "n/a", "na", "unknown", "-", "tbd", "redacted",
                    "string", "example", "test", "your name", "name"})
_SCORE = {"PERSON": 0.9, "LOCATION": 0.86, "PHONE_NUMBER": 0.9, "EMAIL_ADDRESS": 0.9, "DATE_TIME": 0.8,
          "US_SSN": 0.9}


class LetheKeyedValueRecognizer(EntityRecognizer):
    """Typed values of structured fragments (see the module docstring)."""

    ENTITIES = ["PERSON", "LOCATION", "PHONE_NUMBER", "EMAIL_ADDRESS", "DATE_TIME", "US_SSN"]

    def __init__(self) -> None:
        self._compiled = [(n, compile_linear(rx)) for n, rx in _FRAGMENTS]
        super().__init__(supported_entities=list(self.ENTITIES), name=type(self).__name__)

    def load(self) -> None:  # noqa: D102 - regexes compile in __init__
        pass

    def analyze(self, text: str, entities: list[str],
                nlp_artifacts: Optional[NlpArtifacts] = None) -> list[RecognizerResult]:
        """Every fragment's value whose key has a personal meaning and whose shape fits it."""
        out: dict[tuple[int, int], RecognizerResult] = {}
        for name, rx in self._compiled:
            k_group, v_group = rx.groupindex["k"], rx.groupindex["v"]
            k2_group = rx.groupindex.get("k2")
            for m in rx.finditer(text):
                key = m.group(k_group)
                if k2_group is not None and m.group(k2_group) != key:
                    continue
                etype = key_meaning(key)
                if etype not in self.ENTITIES or (entities and etype not in entities):
                    continue
                start, end = m.span(v_group)
                span = self._fit(text, start, end, etype, name)
                if span is not None:
                    out.setdefault(span, RecognizerResult(etype, span[0], span[1], _SCORE[etype]))
        return list(out.values())

    @staticmethod
    def _fit(text: str, start: int, end: int, etype: str, fragment: str) -> tuple[int, int] | None:
        """The part of the value that is the entity, or None when its shape does not fit ``etype``."""
        while start < end and text[start] in " \t":
            start += 1
        while end > start and text[end - 1] in " \t,;\r":
            end -= 1
        value = text[start:end]
        if not value or value.lower() in _EMPTY or "{{" in value or "${" in value:
            return None
        if etype == "PERSON":
            rx = _ESCAPED_NAME if fragment.startswith("json") else _NAME_VALUE
            m = rx.fullmatch(value)
            if m is None or len(value) > 80:
                return None
        elif etype == "PHONE_NUMBER":
            if not _PHONE_VALUE.fullmatch(value) or not 7 <= sum(c.isdigit() for c in value) <= 15:
                return None
        elif etype == "US_SSN":
            if not _SSN_VALUE.fullmatch(value):
                return None
        elif etype == "EMAIL_ADDRESS":
            if "@" not in value and "%40" not in value and "\\u0040" not in value:
                return None
        elif etype == "LOCATION":
            if not any(c.isalnum() for c in value) or len(value) > 160:
                return None
        elif etype == "DATE_TIME":
            if not any(c.isdigit() for c in value):
                return None
        return start, end
