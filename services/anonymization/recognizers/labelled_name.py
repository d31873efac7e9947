"""Person names after a label or a salutation: ``Name: MARGOT ELLERBY``, ``my name is ...``, ``Dear ...``."""

from __future__ import annotations

import re

from presidio_analyzer import RecognizerResult

from .base import LetheRuleRecognizer
from .names import scan_name

_ROLE = (
    r"full|first|last|given|family|sur|middle|maiden|legal|patient|customer|client|contact|user|"
    r"employee|applicant|account|card ?holder|holder|sender|recipient|guest|passenger|student|member|"
    r"tenant|owner|beneficiary|insured|subscriber|caller|driver|buyer|seller|payee|emergency contact|"
    r"mother'?s?|father'?s?|spouse'?s?|next of kin"
)
_LABEL = re.compile(
    r"(?i:\b(?:(?:" + _ROLE + r")[ _-]?)?name\b)[ \t]*(?:(?P<is>is|was|=|:|-)[ \t]*)"
    r"|(?i:\b(?:(?P<me>i[ \t]+am|i'm|im|am|go[ \t]+by)|is|was|be|get)[ \t]+(?P<called>called|named)\b"
    r"|\b(?P<callme>calls?[ \t]+me|known[ \t]+as))[ \t]+(?=[^\W\d_])"
    r"|(?i:\b(?:patient|applicant|claimant|customer|client|attn|attention|signed|from|to|cc|"
    r"contact|respondent|defendant|plaintiff|witness|victim|suspect|beneficiary|employee|passenger|guest|"
    r"attendee|traveller|traveler|visitor|assignee|requester|requestor|approver|reviewer)\b)[ \t]*:[ \t]*"
    r"|(?i:\b(?:named|called|i'm|i am|this is|it's)\b)[ \t]+(?=[^\W\d_])"
    r"|(?i:\bwhat(?:'s|[ \t]+is)[ \t]+(?:your|his|her|their)[ \t]+(?:(?:first|last|full|given|family|middle|maiden)[ \t]+)?name\?)[ \t]*"
    r"|(?i:\b(?:dear|hi|hello|hey|regards|sincerely|cheers|thanks|yours truly|best)\b)[ \t]*,?[ \t]*"
    r"(?:\n[ \t]*)?"
)
_WEAK = re.compile(r"(?i)(?:named|called|i'm|i am|this is|it's|hi|hello|hey|thanks|best|cheers)")


class LetheLabelledNameRecognizer(LetheRuleRecognizer):
    """Names in form fields and greetings, also when written in capitals."""

    ENTITY = "PERSON"

    def find(self, text: str, nlp_artifacts=None) -> list[RecognizerResult]:  # noqa: D102 - see the class docstring
        out = []
        for m in _LABEL.finditer(text):
            # ``my name is``/``name:``/``i am called``: the next words are a name even in lower case.
            explicit = m.group("is") is not None or m.group("me") is not None
            start, end = scan_name(text, m.end(), max_tokens=4, allow_lower=explicit)
            if end <= start:
                continue
            weak = _WEAK.match(m.group().strip()) is not None
            value = text[start:end]
            if weak and (value.isupper() or " " not in value and len(value) < 3):
                continue
            out.append(RecognizerResult(self.ENTITY, start, end, 0.7 if weak else 0.9))
        return out
