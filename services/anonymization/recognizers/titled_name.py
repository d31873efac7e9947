"""Person names introduced by an honorific (``Mr``, ``Mrs``, ``Dr``, ``Prof``...), any script."""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, RecognizerResult

from .names import scan_name

_HONORIFIC = re.compile(
    r"(?<![\w.])(?:Mr|Mrs|Ms|Miss|Mx|Mstr|Dr|Prof|Professor|Sir|Dame|Lady|Lord|Madam|Mme|Mlle|Herr|"
    r"Frau|Sr|Sra|Srta|Rev|Fr|Judge|Justice|Capt|Sgt|Lt|Col|Gen|MR|MRS|MS|DR|PROF)\.?[ \t]+"
    # Written in lower case, with its full stop and not after a number (``5 ms. Then``): ``ms. Quinzia``.
    r"|(?<![\w.])(?<!\d[ \t])(?:mr|mrs|ms|dr)\.[ \t]+"
)


class LetheTitledNameRecognizer(EntityRecognizer):
    """``Mr Grzegorz Jończyk`` -> PERSON ``Grzegorz Jończyk`` (the honorific is not part of it)."""

    ENTITY = "PERSON"

    def __init__(self) -> None:
        super().__init__(supported_entities=[self.ENTITY], name=type(self).__name__)

    def load(self) -> None:  # noqa: D102
        pass

    def analyze(self, text, entities, nlp_artifacts=None):  # noqa: D102 - see class docstring
        if entities and self.ENTITY not in entities:
            return []
        out = []
        for m in _HONORIFIC.finditer(text):
            start, end = scan_name(text, m.end(), max_tokens=5)
            if end > start:
                out.append(RecognizerResult(self.ENTITY, start, end, 0.9))
        return out
