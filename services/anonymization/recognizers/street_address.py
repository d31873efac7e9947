"""Street addresses (reported as LOCATION): number + street, European street forms, units, postcodes."""

from __future__ import annotations

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
_EU_PREFIX = (
    r"(?:Via|Viale|Vicolo|Piazza|Piazzale|Corso|Largo|Strada|Rue|Avenue|Boulevard|Chemin|Allée|Impasse|"
    r"Quai|Route|Calle|Avenida|Avda|Paseo|Plaza|Carrer|Rua|Praça|Travessa|Estrada|ul|ulica|al|aleja|"
    r"os|pl|plac|Odos|Leoforos|Λεωφόρος|Οδός|Calea|Strada|Bulevardul|Str|utca|Rruga)\.?"
)
_EU_COMPOUND = (
    r"[^\W\d_][\w'’-]*(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|laan|straat|gracht|"
    r"plein|kade|singel|dijk|vej|gade|gatan|vägen|väg|gränd|veien|vegen|gata|gate|katu|tie|polku|kuja|"
    r"utca|út|tér|ulica|cesta|stræde|torv|steeg|markt)"
)


class LetheStreetAddressRecognizer(LetheRegexRecognizer):
    """Address parts precise enough to locate a home; city/country names come from the NER model."""

    ENTITY = "LOCATION"
    PATTERNS = [
        ("number_street", r"\b\d{1,6}[A-Za-z]?(?:-\d{1,4})?\s+(?:" + _WORD + r"\s+){0,4}" + _SUFFIX
         + r"\b\.?" + _UNIT, 0.75),
        ("eu_prefix", r"\b" + _EU_PREFIX + r"\s+(?:" + _WORD + r"\s+){0,4}\d{1,5}[A-Za-z]?\b" + _UNIT, 0.7),
        ("eu_compound", r"\b" + _EU_COMPOUND + r"\s+\d{1,5}[A-Za-z]?\b" + _UNIT, 0.75),
        ("number_after_street", r"\b[A-Z][\w'’-]+\s+(?:" + _WORD + r"\s+){0,2}" + _SUFFIX
         + r"\b\.?,?\s+\d{1,5}[A-Za-z]?\b", 0.65),
        ("unit", r"(?<![\w])(?:Apt|Apartment|Suite|Ste|Unit|Flat)\.?\s*#?\d{1,6}[A-Za-z]?\b", 0.6),
        ("po_box", r"(?i)\bP\.?\s?O\.?\s?Box\s+\d{1,8}\b", 0.7),
        ("uk_postcode", r"\b[A-Z]{1,2}\d[A-Z\d]?\s\d[ABD-HJLNP-UW-Z]{2}\b", 0.6),
        ("ca_postcode", r"\b[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\s\d[ABCEGHJ-NPRSTV-Z]\d\b", 0.6),
        ("us_state_zip", r"\b(?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|"
         r"O[HKR]|PA|RI|S[CD]|T[NX]|UT|V[AT]|W[AIVY])\s+\d{5}(?:-\d{4})?\b", 0.6),
    ]
