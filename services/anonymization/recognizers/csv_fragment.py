"""Cells of CSV fragments typed by their column's header: ``name,email,phone`` then rows
(``services.anonymization.structured.csv_tables``: comma, semicolon or tab, RFC 4180 quoting). A
column whose header means a person, place, phone, e-mail, birth date or SSN has each cell's content
reported with that type when its shape fits (the same shape rules as keyed values). Spans cover a
cell's content only, never its quotes or delimiters, so a redacted fragment keeps its shape."""

from __future__ import annotations

import re
from typing import Optional

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from ..structured import column_meaning, csv_tables
from .keyed_value import _NAME_VALUE, _SCORE, LetheKeyedValueRecognizer

_ORG_VALUE = re.compile(r"[^\W_][\w'’&.,()/+-]*(?:[ \t]+[\w'’&.,()/+-]+){0,7}")
# A header's meaning outweighs the model's guess for one cell (spaCy's PERSON is 0.85).
_SCORES = {**_SCORE, "ORGANIZATION": 0.9, "LOCATION": 0.9}
_EXTENSION = re.compile(r"[ \t]*(?:x|ext\.?|#)[ \t]*[0-9]{1,6}$", re.IGNORECASE)


class LetheCsvFragmentRecognizer(EntityRecognizer):
    """Typed cells of CSV fragments (see the module docstring)."""

    ENTITIES = [*LetheKeyedValueRecognizer.ENTITIES, "ORGANIZATION"]

    def __init__(self) -> None:
        super().__init__(supported_entities=list(self.ENTITIES), name=type(self).__name__)

    def load(self) -> None:  # noqa: D102 - nothing to load
        pass

    def analyze(self, text: str, entities: list[str],
                nlp_artifacts: Optional[NlpArtifacts] = None) -> list[RecognizerResult]:
        """Every cell of a column whose header has a personal meaning and whose shape fits it."""
        if "\n" not in text:
            return []
        out = []
        for table in csv_tables(text):
            for col, key in enumerate(table.header):
                etype = column_meaning(key)
                if etype not in self.ENTITIES or (entities and etype not in entities):
                    continue
                for row in table.rows:
                    span = _fit(text, *row[col], etype)
                    if span is not None:
                        out.append(RecognizerResult(etype, span[0], span[1], _SCORES[etype]))
        return out


def _fit(text: str, start: int, end: int, etype: str) -> tuple[int, int] | None:
    """The cell's entity span: keyed values' shape rules, plus ``Last, First`` names and company
    names (letters first, up to 8 words)."""
    value = text[start:end].strip()
    if etype == "PERSON" and value.count(",") == 1:
        if all(_NAME_VALUE.fullmatch(part.strip()) for part in value.split(",")):
            lead = len(text[start:end]) - len(text[start:end].lstrip())
            return start + lead, start + lead + len(value)
        return None
    if etype == "ORGANIZATION":
        if not value or len(value) > 80 or not _ORG_VALUE.fullmatch(value) or value.lower() in ("n/a", "none"):
            return None
        lead = len(text[start:end]) - len(text[start:end].lstrip())
        return start + lead, start + lead + len(value)
    if etype == "PHONE_NUMBER" and (ext := _EXTENSION.search(value)):  # ``924.321.9489x24115``
        lead = len(text[start:end]) - len(text[start:end].lstrip())
        if LetheKeyedValueRecognizer._fit(text, start, start + lead + ext.start(), etype, "csv"):
            return start + lead, start + lead + len(value)
        return None
    return LetheKeyedValueRecognizer._fit(text, start, end, etype, "csv")
