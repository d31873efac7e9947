"""Street addresses (reported as LOCATION): number + street, European street forms, units, postcodes."""

from __future__ import annotations

import re

from .base import LetheRegexRecognizer

_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Square|Sq|"
    r"Terrace|Ter|Way|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Trail|Trl|Crescent|Cres|Close|Row|Alley|"
    r"Plaza|Point|Pike|Loop|Run|Path|Walk|Ridge|Heights|Gardens|Grove|Park|Hill|Hills|Mews|Rise|Dale|"
    r"Vale|View|Expressway|Freeway|Turnpike|Crossing|Junction|Mall|Green|Meadow|Meadows|Harbor|Port|"
    r"Shore|Shores|Springs|Station|Summit|Valley|Village|Wells|Estate|Estates|Manor|Isle|Bay|Fork|"
    r"Ford|Glen|Haven|Hollow|Knoll|Lake|Landing|Mill|Mills|Orchard|Pass|Passage|Pines|Plains|Ranch|"
    r"Rest|Route|Spur|Stream|Track|Trace|Union|Wharf)"
)
_WORD = r"[^\W\d_][\w'’.-]*"
_UNIT = r"(?:,?\s*(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm|Bldg|Building|#)\.?\s*#?\w{1,6})?"
_MONTHS = (
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*|(?:mon|tues|wednes|thurs|fri|satur|sun)day|"
    r"and|or|the|of|to|in|on|at|for|by|with|from|was|were|is|are|has|had|have|per|than|x"
)
# A street-name word after a house number: capitalised (any script), or one of the short lower-case
# connectors and street words that many languages write in lower case (``rue de``, ``út``, ``gate``).
_NAME_WORD = (
    r"(?!(?i:" + _MONTHS + r")\b)(?:[^\W\d_a-z][\w'’.-]*|"
    r"(?:de|del|della|di|da|do|dos|das|du|la|le|les|des|van|von|der|den|het|ter|ten|al|el|y|i|u\.|út|utca|útja|"
    r"tee|gate|vej|gade|tie|katu|rue|via|str\.|ul\.|nad|pod|na)(?=\s))"
)
# What may follow a number-name-number street line: end of line, a comma, a unit, a street word.
_LINE_END = r"(?=[ \t]*(?:$|\n|,|;|\)|\bApt\b|\bSuite\b|\bUnit\b|\bSt\b\.?|\bstreet\b|\.\s|\.$))"
_EU_PREFIX = (
    r"(?:Via|Viale|Vicolo|Piazza|Piazzale|Corso|Largo|Strada|Rue|Avenue|Boulevard|Chemin|Allée|Impasse|"
    r"Quai|Route|Calle|Avenida|Avda|Paseo|Plaza|Carrer|Rua|Praça|Travessa|Estrada|ul|ulica|al|aleja|"
    r"os|pl|plac|Odos|Leoforos|Λεωφόρος|Οδός|Calea|Strada|Bulevardul|Str|utca|Rruga)\.?"
)
_EU_COMPOUND = (
    r"[^\W\d_a-z][\w'’-]*(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|laan|straat|gracht|"
    r"plein|kade|singel|dijk|vej|gade|gatan|vägen|väg|gränd|veien|vegen|gata|gate|katu|tie|polku|kuja|"
    r"utca|út|tér|ulica|cesta|stræde|torv|steeg|markt)"
)


class LetheStreetAddressRecognizer(LetheRegexRecognizer):
    """Address parts precise enough to locate a home; city/country names come from the NER model."""

    ENTITY = "LOCATION"
    PATTERNS = [
        ("number_street", r"\b(?:\d{1,6}[ \t]+)?\d{1,6}[A-Za-z]?(?:-\d{1,4})?\s+(?:" + _NAME_WORD + r"\s+){0,4}"
         + _SUFFIX
         + r"\b\.?" + _UNIT, 0.9),
        ("eu_prefix", r"\b" + _EU_PREFIX + r"\s+(?:" + _WORD + r"\s+){0,4}\d{1,5}[A-Za-z]?\b" + _UNIT, 0.88),
        # Word runs start at their first letter (a lookbehind, not ``\b``), so ``E'E'E'...`` is not
        # rescanned from each of its letters.
        ("eu_compound", r"(?<![\w'’.-])" + _EU_COMPOUND + r"\s+\d{1,5}[A-Za-z]?\b" + _UNIT, 0.9),
        ("number_after_street", r"(?<![\w'’.-])[A-Z][\w'’-]+\s+(?:" + _WORD + r"\s+){0,2}" + _SUFFIX
         + r"\b\.?,?\s+\d{1,5}[A-Za-z]?\b", 0.86),
        ("unit", r"(?<![\w])(?:Apt|Apartment|Suite|Ste|Unit|Flat)\.?\s*#?\d{1,6}[A-Za-z]?\b", 0.8),
        ("po_box", r"(?i)\bP\.?\s?O\.?\s?Box\s+\d{1,8}\b", 0.9),
        ("uk_postcode", r"\b[A-Z]{1,2}\d[A-Z\d]?\s\d[ABD-HJLNP-UW-Z]{2}\b", 0.8),
        ("ca_postcode", r"\b[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\s\d[ABCEGHJ-NPRSTV-Z]\d\b", 0.8),
        ("us_state_zip", r"\b(?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|"
         r"O[HKR]|PA|RI|S[CD]|T[NX]|UT|V[AT]|W[AIVY])\s+\d{5}(?:-\d{4})?\b", 0.8),
        # ``28030 Edeby 55``, ``0304 Rua Cidade de Maracajá 468``: number, street name, house number.
        ("number_name_number", r"(?m)(?<![\w.,/:-])\d{1,6}(?:[ \t]+\d{1,6})?[ \t]+(?:ul\.[ \t]+)?"
         r"(?!(?i:" + _MONTHS + r")\b)(?:[^\W\d_a-z][\w'’.-]*|[a-zà-ÿ][\w'’-]{2,}\.?)(?:[ \t]+" + _NAME_WORD + r"){0,4}[ \t]+\d{1,5}[A-Za-z]?\.?(?![\w/-])"
         + _LINE_END, 0.88),
        ("number_eu_prefix", r"(?m)(?<![\w.,/:-])\d{1,6}(?:[ \t]+\d{1,6})?[ \t]+" + _EU_PREFIX
         + r"[ \t]+(?:" + _NAME_WORD + r"[ \t]+){0,4}" + _NAME_WORD + r"(?<![.])" + _LINE_END, 0.88),
        # An intersection: ``the corner of Kuusiku 7 and Alexander Flat``, ``corner of Elm St. and 5th Ave``.
        ("corner", r"(?i:\bcorner[ \t]+of)[ \t]+(?P<v>(?:[ \t]*+(?>\d{1,6}[A-Za-z]?|(?:ul|St|C)\.|" + _NAME_WORD
         + r")){1,6}[ \t]+(?:and|&)(?:[ \t]+(?>\d{1,6}[A-Za-z]?|(?:ul|St|C)\.|" + _NAME_WORD + r")){1,6})", 0.9),
        # US military mail: ``PSC 3294, Box 9168 / APO AA 61487``, ``USNS Bergman / FPO AP 93757``.
        ("military_box", r"(?i)\b(?:PSC|CMR|Unit)[ \t]+\d{3,5},?[ \t]+Box[ \t]+\d{3,5}\b"
         r"(?:[ \t]*\n?[ \t>]*(?:APO|FPO|DPO)[ \t]+A[AEP][ \t]+\d{5}\b)?", 0.9),
        ("military_ship", r"(?i)\b(?:USNS|USNV|USS|USCGC)[ \t]+[^\W\d_][\w'’-]*(?:[ \t]+[^\W\d_][\w'’-]*)?"
         r"[ \t]*\n?[ \t>]*(?:APO|FPO|DPO)[ \t]+A[AEP][ \t]+\d{5}\b", 0.9),
        ("military_post", r"(?i)\b(?:APO|FPO|DPO)[ \t]+A[AEP][ \t]+\d{5}\b", 0.8),
        # A postal code introduced as one: ``ZIP: 394 13``, ``my zip code is 90010-170``.
        # Possessive runs: two adjacent runs of blanks would otherwise split n blanks n ways.
        ("zip_cue", r"(?i:\b(?:zip|postal|post)(?:[ \t]*+code)?\b)[ \t]*+(?:is\b|:|=|#|-)?[ \t]*+"
         r"(?P<v>\d{3,5}(?:[ -]\d{2,4})?(?:[ \t]?[A-Z]{2}\b)?|[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}"
         r"|[A-Z]\d[A-Z][ \t]?\d[A-Z]\d)(?![\w-])", 0.8),
    ]

    def analyze(self, text, entities, nlp_artifacts=None):  # noqa: D102 - see class docstring
        results = super().analyze(text, entities, nlp_artifacts)
        lower = bool(results) and not any(c.isupper() for c in text)  # once per text, not per result
        for r in results:
            r.end = extend_address(text, r.end, lower)
        return results


# After a street line, an address continues over the unit, city, region, country and postal-code
# lines of a postal block (``Apt. 342 / TRONDHEIM / Norway 64389``) or comma-separated on one line.
_UNIT_PART = r"(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm|Bldg|Building)\.?[ \t]*#?[\w-]{1,6}"
_PLACE_WORD = r"(?:[^\W\d_a-z][\w'’.-]*|\([^\W\d_][\w' .-]*\)|(?:de|del|la|le|les|di|da|do|dos|das|du|nad|am|an|im|sur|upon|on|en|y|i|van|von|der|den|het|ter|ten)(?=[ \t]))"
_POSTCODE = r"(?:\d{3,6}(?:[ -]\d{2,4})?|[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}|[A-Z]\d[A-Z][ \t]?\d[A-Z]\d)"
_PLACE = (r"(?:" + _PLACE_WORD + r"(?:[ \t]+" + _PLACE_WORD + r"){0,4}(?:,?[ \t]+" + _POSTCODE + r")?"
          r"|,?[ \t]*[A-Z]{2,3}(?:[ \t]+" + _POSTCODE + r")?|" + _POSTCODE + r")")
_NEXT_LINE = re.compile(
    r"[ \t]*\n(?:[ \t>|*?]*\n)?[ \t>|*?]*(?:" + _UNIT_PART + r"|" + _PLACE + r")[ \t]*(?=\n|$|[.?!;]|[ \t]+(?:for|in|after|and)\b)"
)
_SAME_LINE = re.compile(r",[ \t]+(?:" + _UNIT_PART + r"|" + _PLACE + r")(?=[ \t]*(?:,|\n|$|[.?!;]|[ \t](?:[a-z]|\d)))")
_LOWER_NEXT_LINE = re.compile(
    r"[ \t]*\n(?:[ \t>|*?]*\n)?[ \t>|*?]*,?[ \t]*[a-z0-9][a-z0-9 .'-]{0,30}(?=\n|$|[.?!;])"
)
_LOWER_SAME_LINE = re.compile(r",[ \t]+[^\W\d_][^\W\d_' -]{0,30}(?=$|\n|[.?!;])")


def extend_address(text: str, end: int, lower: bool, max_parts: int = 5) -> int:
    """Extend an address ending at ``end`` over the unit/city/country/postcode parts that follow it
    (``lower``: the text has no upper-case letter, so lower-case place lines count too). Time is
    linear in what it reads after ``end``."""
    for _ in range(max_parts):
        m = (_NEXT_LINE.match(text, end) or _SAME_LINE.match(text, end)
             or (lower and (_LOWER_NEXT_LINE.match(text, end) or _LOWER_SAME_LINE.match(text, end))))
        if not m or m.end() <= end or ":" in m.group() or "@" in m.group():
            break
        end = m.end()
        while end > 0 and text[end - 1] in " \t":
            end -= 1
    return end
