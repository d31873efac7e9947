"""Telephone numbers in the national formats of the six other languages' countries, after a telephone
cue of those languages: ``Sie erreichen mich unter 0344 002978``, ``me joindre au 0633931860``,
``chiamarmi al 349 298 7110``, ``Liguem-me para o (351) 964845263``, ``bel me op 06-12345678``.

The number must be valid (``phonenumbers``) in a region of the passage's language (DE/AT/CH for
German, FR/BE/CH/LU for French, ES for Spanish, PT/BR for Portuguese, IT/CH for Italian, NL/BE for
Dutch), or carry a country code (``+351``, ``00351``, ``(351)``). Without a cue a bare run of digits is
an order or invoice number and is left to ``phone.py``'s rules.
"""

from __future__ import annotations

import re
from typing import Optional

import phonenumbers

from ..languages.identify import language_at
from .base import LetheRegexRecognizer

LANGUAGE_REGIONS = {
    "de": ("DE", "AT", "CH"), "fr": ("FR", "BE", "CH", "LU"), "es": ("ES",), "pt": ("PT", "BR"),
    "it": ("IT", "CH"), "nl": ("NL", "BE"), "en": ("DE", "FR", "ES", "PT", "IT", "NL", "BE", "AT", "CH"),
}
_CUE = re.compile(
    r"(?i)(?<![\w-])(?:erreichen|erreichbar|anrufen|ruf|rufen|telefon\w{0,6}|tel\.?|handy\w{0,6}|mobil\w{0,6}|"
    r"festnetz|rückruf|joindre|appeler|appelez|appelle[rz]?|téléphone|portable|llamar(?:me)?|llámame|llamadme|"
    r"teléfono|telefono|móvil|movil|celular|ligar|liguem|ligue|telemóvel|telemovel|telefone|chiamare|"
    r"chiamarmi|chiamami|chiamatemi|cellulare|cell\.?|bellen|bel|telefoon|mobiel|whatsapp|sms)(?!\w)"
)
CUE_WINDOW = 40


class LetheEuPhoneRecognizer(LetheRegexRecognizer):
    """PHONE_NUMBER for national-format numbers after a telephone cue (see the module docstring)."""

    ENTITY = "PHONE_NUMBER"
    PATTERNS = [
        ("eu_phone", r"(?<![\w+/.,-])(?P<v>(?:(?:\+|00)\d{1,3}+[ .-]?)?(?:\(\d{1,4}+\)[ .-]?)?\d(?:[ ./-]?\d){5,16}+)"
         r"(?![\w]|[.,/-]\d)", 0.9),
    ]

    def check(self, text: str, start: int, end: int, score: float) -> Optional[float]:
        """A cue within ``CUE_WINDOW`` code points before, and a valid number for the language's regions."""
        if _CUE.search(text, max(0, start - CUE_WINDOW), start) is None:
            return None
        value = text[start:end]
        digits = re.sub(r"\D", "", value)
        if not 7 <= len(digits) <= 15:
            return None
        try:
            if value.startswith(("+", "00")):
                number = "+" + value[2:] if value.startswith("00") else value
                return score if phonenumbers.is_valid_number(phonenumbers.parse(number, None)) else None
            if value.startswith("("):
                code, rest = value[1:].split(")", 1)
                if code.lstrip("0") and phonenumbers.is_valid_number(phonenumbers.parse(f"+{code.lstrip('0')} {rest}", None)):
                    return score
            for region in LANGUAGE_REGIONS.get(language_at(text, start), ()):
                if phonenumbers.is_valid_number(phonenumbers.parse(value, region)):
                    return score
        except phonenumbers.NumberParseException:
            return None
        return None

    def analyze(self, text, entities, nlp_artifacts=None):  # noqa: D102 - every pattern needs a digit
        if not any(c.isdigit() for c in text):
            return []  # skip the regex scans on digit-free text (most chat prose)
        return super().analyze(text, entities, nlp_artifacts)
