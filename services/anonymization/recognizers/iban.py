"""International Bank Account Numbers, validated by country length and the ISO 7064 mod-97 check."""

from __future__ import annotations

from typing import Optional

from .base import LetheRegexRecognizer, shrink_at_separators

# Lengths per country (ISO 13616 registry).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


def iban_ok(compact: str) -> bool:
    """Return True for a valid IBAN given without separators (any letter case)."""
    iban = compact.upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isalnum() or not iban.isascii():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


class LetheIbanRecognizer(LetheRegexRecognizer):
    """IBANs written compact or in groups of four separated by a space or dash."""

    ENTITY = "IBAN_CODE"
    PATTERNS = [
        (
            "iban",
            r"(?i)(?<![a-z0-9])(?P<v>[a-z]{2}\d{2}(?:[ -]?[a-z0-9]{4}){2,7}(?:[ -]?[a-z0-9]{1,4})?)"
            r"(?![a-z0-9])",
            1.0,
        ),
    ]

    def shrink(self, text: str, start: int, end: int):  # noqa: D102 - drop trailing groups
        return shrink_at_separators(text, start, end)

    def check(self, text: str, start: int, end: int, score: float) -> Optional[float]:
        """Accept only country-length-correct, mod-97-valid values."""
        return score if iban_ok(text[start:end].replace(" ", "").replace("-", "")) else None
