"""Firms named after their partners: ``Lopez, Santos and Coleman is a design agency``.

Three or more capitalised names coordinated by commas and ``and``/``&`` but followed by a singular verb
(``is``, ``was``, ``has``) or a company word (``Orchestra``, ``LLP``) name one organisation, not three
people: people in a list take ``are``/``were``. Reported as ORGANIZATION above the model's PERSON
guesses for the single names inside it.
"""

from __future__ import annotations

import re

from presidio_analyzer import RecognizerResult

from .base import LetheRuleRecognizer

_ITEM = r"[^\W\d_a-z][^\W\d_]+(?:-[^\W\d_a-z][^\W\d_]+)?"
_FIRM = re.compile(
    r"(?<![\w-])(?P<f>" + _ITEM + r"(?:,[ \t]+" + _ITEM + r"){1,20},?[ \t]+(?:and|&)[ \t]+" + _ITEM
    + r"(?:[ \t]+(?:Orchestra|LLP|LLC|Inc\.?|Ltd\.?|Associates|Partners|Group|Company|Co\.?))?)"
    r"(?=[ \t]+(?:is|was|has|had|employs|offers|provides|announced|reported)\b|['’]s\b)"
)


class LetheFirmNameRecognizer(LetheRuleRecognizer):
    """ORGANIZATION for ``A, B and C`` followed by a singular verb or a possessive."""

    ENTITY = "ORGANIZATION"

    def find(self, text: str, nlp_artifacts=None) -> list[RecognizerResult]:  # noqa: D102 - see the class docstring
        return [RecognizerResult(self.ENTITY, m.start("f"), m.end("f"), 0.87) for m in _FIRM.finditer(text)]
