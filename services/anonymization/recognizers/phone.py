"""Telephone numbers in international (+CC / 00CC) and national formats, checked with phonenumbers."""

from __future__ import annotations

import re
from typing import Optional

import phonenumbers

from ..languages.labels import reference_before
from ..structured import key_before, key_meaning
from .base import LetheRegexRecognizer, cue_regex, has_cue

# Regions whose national numbering plans we try for numbers written without a country code.
REGIONS = (
    "US", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "SE", "NO", "DK", "FI", "PL", "CZ",
    "IE", "PT", "GR", "HU", "RO", "AU", "NZ", "CA", "IN", "BR", "MX", "ZA", "JP", "SG", "IL", "TR",
)
_CUE = cue_regex([
    "phone", "phones", "tel", "telephone", "mobile", "cell", "cellphone", "call", "called", "calling",
    "fax", "ring", "reach", "contact", "number", "no", "whatsapp", "text", "sms", "dial", "landline",
    "hotline", "extension", "ext", "voicemail", "signal", "telegram", "#", "message", "messages",
    "texts", "texting", "answering",
    # Other languages' cues: ``Ruf mich an``, ``Handy``, ``llámame``, ``téléphone``, ``chiamami``, ``telemóvel``.
    "ruf", "rufen", "anrufen", "telefon", "telefonnummer", "handy", "mobil", "mobilnummer", "festnetz",
    "llámame", "llamame", "llamar", "teléfono", "telefono", "móvil", "movil", "celular", "téléphone",
    "portable", "appelle", "appelez", "numéro", "chiamami", "cellulare", "numero", "bel", "telefoon",
    "telemóvel", "telemovel", "telefone", "ligue", "liga-me",
])
# Cues that name a telephone, as opposed to ``number``/``no``/``#``, which also label order numbers.
_PHONE_CUE = cue_regex([
    "phone", "phones", "tel", "telephone", "mobile", "cell", "cellphone", "call", "called", "calling",
    "fax", "ring", "whatsapp", "sms", "dial", "landline", "hotline", "voicemail", "signal", "telegram",
    "ruf", "rufen", "anrufen", "telefon", "telefonnummer", "handy", "mobil",
    "mobilnummer", "festnetz", "llámame", "llamame", "llamar", "teléfono", "telefono", "móvil", "movil",
    "celular", "téléphone", "portable", "appelle", "appelez", "chiamami", "cellulare", "bel", "telefoon",
    "telemóvel", "telemovel", "telefone", "ligue", "liga-me",
])
# ``Desk: 5403926876``, ``Office\,3660170548``: a line label right before the number.
_LABEL_CUE = re.compile(r"(?i)\b(?:office|desk|home|work|direct)\b[^\w\n]{1,3}$")
# ``127.62.159.219``, ``11.26.169``: dotted numbers shaped like an IPv4 address or a version.
_DOTTED_IP = re.compile(r"^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$")
_VERSION = re.compile(r"^\d{1,2}(?:\.\d{1,4}){1,3}$")
_VERSION_CUE = re.compile(r"(?i)(?:\bv|\bversion|\brelease|\bfrom|\bto|\bupgrad\w*|\bbump\w*)[ \t:]*$")
# ``030 901820``, ``0170 1234567``: a trunk-prefixed area code, then the subscriber number.
_TRUNK_GROUPS = re.compile(r"^(?:\(0\d{2,4}\)[ /.-]?|0\d{2,4}[ /.-])\d{4,8}$")
# Words naming a person's account or case reference, in both cues below.
_ACCOUNT_WORDS = ("reference|order|invoice|account|customer|policy|case|ticket|serial|member|membership|file|"
                  "claim|tracking")
# What makes a two-group number a reference rather than a phone: ``ID 0123 456789``, ``order no.``.
_REFERENCE_CUE = re.compile(
    rf"(?i)\b(?:{_ACCOUNT_WORDS}|id|ref|acct|iban|bic|card|patient|contract|batch|build|pid|sku|product|item|"
    r"transaction|shipment|parcel|job|run|commit|issue|pr|version|port|ts|timestamp|epoch)\b"
    r"[\s#:=.nNoO°-]*$"
)
# A person's document or account number named a few words before: ``My driver's license number is
# 5130634``, ``Passport no.: 5130634``, ``the booking reference was 48213577``.
_DOCUMENT_BEFORE = re.compile(
    rf"(?i)\b(?:{_ACCOUNT_WORDS}|passport|licen[cs]e|permit|registration|social[ \t]+security|ssn|"
    r"national[ \t]+(?:id|insurance)|tax|vat|nhs|student|employee|badge|booking|reservation|confirmation|"
    r"voucher|coupon|certificate|application)\b[^\n\d]{0,20}$"
)
# ``1 250 000 EUR``, ``$ 2 500 000``: thousands groups next to a currency are an amount.
_THOUSANDS = re.compile(r"^[1-9]\d{0,2}(?:[ .,]\d{3})+$")
_CURRENCY_AFTER = re.compile(r"(?i)[ \t]?(?:EUR|USD|GBP|CHF|JPY|SEK|NOK|DKK|PLN|CAD|AUD|€|\$|£|¥|kr\b|zł|"
                             r"dollars?|euros?|pounds?|francs?|yen|rupees?)")
_CURRENCY_BEFORE = re.compile(r"(?i)(?:EUR|USD|GBP|CHF|€|\$|£|¥|paid|pay|cost|costs|price|total|amount|sum)"
                              r"[ \t:]*$")
_AFTER_CUE = re.compile(
    r"(?i)[ \t]*[-(\[]?(?:phone|tel|mobile|cell|fax|office|desk|home|work|landline|direct)\b"
)
_DATE_SHAPE = re.compile(
    r"^(?:\d{4}[-. ](?:0?[1-9]|1[0-2])[-. ](?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])[-. ](?:0?[1-9]|[12]\d|3[01])[-. ](?:19|20)?\d\d)$"
)
_SSN_SHAPE = re.compile(r"^\d{3}([- .])\d{2}\1\d{4}$")
_EXT = re.compile(r"(?i)\s?(?:x|ext\.?|extension)\s?\d{1,6}$")


class LethePhoneRecognizer(LetheRegexRecognizer):
    """Digit groups that form a phone number; validity per phonenumbers raises the score."""

    ENTITY = "PHONE_NUMBER"
    PATTERNS = [
        (
            "phone",
            r"(?<![\w+/.-])(?<!\d,)(?P<v>(?:(?:\+|00)\d{1,3}+[ .-]?|\+\(\d{1,3}+\)[ .-]?)?(?:\(\d{1,5}+\)/?|\d{1,5}+)"
            r"(?:[ .-]?\(?\d{1,6}+\)?){1,6}(?:\s?(?:x|ext\.?|extension)\s?\d{1,6})?)"
            r"(?![\w]|[.,/:-]\d)",
            0.55,
        ),
    ]

    def check(self, text: str, start: int, end: int, score: float) -> Optional[float]:
        """Score by validity (any of REGIONS, or the explicit country code), format and cue words."""
        value = text[start:end]
        core = _EXT.sub("", value)
        digits = re.sub(r"\D", "", core)
        if not 7 <= len(digits) <= 15 or len(set(digits)) == 1 or _DATE_SHAPE.match(core):
            return None
        if _SSN_SHAPE.match(core):
            return None
        if _THOUSANDS.match(core) and (_CURRENCY_AFTER.match(text, end)
                                       or _CURRENCY_BEFORE.search(text, max(0, start - 12), start)):
            return None
        if _DOTTED_IP.match(core) or (_VERSION.match(core) and (len(digits) < 9 or _VERSION_CUE.search(
                text, max(0, start - 16), start))):
            return None
        international = core.startswith(("+", "00"))
        key = key_before(text, start)
        meaning = key_meaning(key) if key else None
        if meaning is not None and meaning != "PHONE_NUMBER" and not international:
            return None  # ``"order_id": 5551234567``: the key says what the number is
        phone_cue = (has_cue(text, start, _PHONE_CUE, 40) or _AFTER_CUE.match(text, end) is not None
                     or _LABEL_CUE.search(text, max(0, start - 12), start) is not None)
        reference = (_REFERENCE_CUE.search(text, max(0, start - 24), start) is not None
                     or _DOCUMENT_BEFORE.search(text, max(0, start - 48), start) is not None
                     or reference_before(text, start))  # ``numéro de commande``, ``Bestellnummer``
        cue = phone_cue or (has_cue(text, start, _CUE, 40) and not reference)
        grouped = bool(re.search(r"\d[ .()/-]+\d", core))
        if not grouped and not international and not phone_cue and (reference or not cue):
            # A bare run of digits is an order id, a timestamp, a product id or a result unless
            # something says it is a telephone.
            return None
        valid = False
        try:
            if international:
                num = phonenumbers.parse("+" + core[2:] if core.startswith("00") else core, None)
                valid = phonenumbers.is_valid_number(num)
                if not valid and not phonenumbers.is_possible_number(num):
                    return 0.5 if cue else None
            else:
                for region in REGIONS:
                    if phonenumbers.is_valid_number(phonenumbers.parse(core, region)):
                        valid = True
                        break
        except phonenumbers.NumberParseException:
            valid = False
        groups = len(re.findall(r"\d+", core))
        if valid:
            score = 0.85 if (grouped or international) else 0.6
            if groups == 2 and not international and not cue:
                score = 0.6 if (_TRUNK_GROUPS.match(core) and len(digits) >= 9
                                and not _REFERENCE_CUE.search(text, max(0, start - 24), start)) else 0.45
        elif not grouped:
            score = 0.3
        elif len(digits) < 8 and not cue:
            score = 0.45
        if cue:
            score += 0.25
        return score
