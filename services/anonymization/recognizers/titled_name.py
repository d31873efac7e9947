"""Person names introduced by an honorific (``Mr``, ``Mrs``, ``Dr``, ``Prof``...), any script."""

from __future__ import annotations

import re

from presidio_analyzer import RecognizerResult

from .base import LetheRuleRecognizer
from .names import scan_name

_HONORIFIC = re.compile(
    r"(?<![\w.])(?:Mr|Mrs|Ms|Miss|Mx|Mstr|Dr|Prof|Professor|Sir|Dame|Lady|Lord|Madam|Mme|Mlle|Herr|"
    r"Frau|Sr|Sra|Srta|Rev|Fr|Judge|Justice|Capt|Sgt|Lt|Col|Gen|MR|MRS|MS|DR|PROF)\.?[ \t]+"
    # Written in lower case, with its full stop and not after a number (``5 ms. Then``): ``ms. Quinzia``.
    r"|(?<![\w.])(?<!\d[ \t])(?:mr|mrs|ms|dr)\.[ \t]+"
)


class LetheTitledNameRecognizer(LetheRuleRecognizer):
    """``Mr Grzegorz Jończyk`` -> PERSON ``Grzegorz Jończyk`` (the honorific is not part of it)."""

    ENTITY = "PERSON"

    def find(self, text: str, nlp_artifacts=None) -> list[RecognizerResult]:  # noqa: D102 - see the class docstring
        out = []
        for m in _HONORIFIC.finditer(text):
            start, end = scan_name(text, m.end(), max_tokens=5)
            if end > start:
                out.append(RecognizerResult(self.ENTITY, start, end, 0.9))
        return out
