"""Firms named after their partners: ``Lopez, Santos and Coleman is a design agency``.

Three or more capitalised names coordinated by commas and ``and``/``&`` but followed by a singular verb
(``is``, ``was``, ``has``) or a company word (``Orchestra``, ``LLP``) name one organisation, not three
people: people in a list take ``are``/``were``. So do three names after ``is from``/``works at`` or
alone on a line of a contact block (people there are listed one a line), or after ``the`` or inside
brackets (``the Mcintosh, Kelly and Yang helpdesk``, ``(Carpenter, Smith and Robertson)``). Reported as ORGANIZATION above the model's PERSON
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
    r"(?=[ \t]+(?:is|was|has|had|employs|offers|provides|announced|reported|acquired|launched|hired|"
    r"released|manufactures|sells|makes|merged)\b|['’]s\b)"
)
# Three partners after a workplace cue (``Tomomi is from Hawkins, Richardson and Santana``), or alone on a
# line of a signature or contact block (``>Marshall, Hernandez and Simpson``).
_PARTNERS = re.compile(
    r"(?:(?:\b(?:is|was|comes|came|works|worked|working)[ \t]+(?:from|at|for)[ \t]+|^[ \t>|*]*)"
    r"(?P<f>" + _ITEM + r",[ \t]+" + _ITEM + r",?[ \t]+(?:and|&)[ \t]+" + _ITEM + r")(?=[ \t]*[.!?]?[ \t]*$)"
    r"|(?:\b[Tt]he[ \t]+|\()(?P<g>" + _ITEM + r",[ \t]+" + _ITEM + r",?[ \t]+(?:and|&)[ \t]+" + _ITEM + r")"
    r"(?=\)|[ \t]+[a-z]))", re.M
)


class LetheFirmNameRecognizer(LetheRuleRecognizer):
    """ORGANIZATION for ``A, B and C`` followed by a singular verb or a possessive."""

    ENTITY = "ORGANIZATION"

    def find(self, text: str, nlp_artifacts=None) -> list[RecognizerResult]:  # noqa: D102 - see the class docstring
        found = {m.span("f") for m in _FIRM.finditer(text)}
        found |= {m.span("f" if m.group("f") else "g") for m in _PARTNERS.finditer(text)}
        return [RecognizerResult(self.ENTITY, s, e, 0.87) for s, e in sorted(found)]
