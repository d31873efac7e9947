"""National identifiers of the six supported EU countries: their written shapes, the cue words that
introduce them, and their check-digit validation (``python-stdnum``, which implements each national
algorithm).

=========  ===========================================  ==============================================
key        identifier                                   check (python-stdnum module)
=========  ===========================================  ==============================================
de_idnr    DE Steuerliche Identifikationsnummer, 11 dig.  ISO 7064 Mod 11,10 + digit-repeat rule (de.idnr)
fr_nir     FR NIR (numéro de sécurité sociale), 13+2     97 - (number mod 97) key (fr.nir)
es_dni     ES DNI, 8 digits + letter                    number mod 23 -> letter (es.dni)
es_nie     ES NIE, X/Y/Z + 7 digits + letter            as DNI with X/Y/Z = 0/1/2 (es.nie)
it_cf      IT codice fiscale, 16 characters             odd/even table check letter (it.codicefiscale)
nl_bsn     NL BSN (burgerservicenummer), 9 digits       "elfproef" weighted mod 11 (nl.bsn)
pt_nif     PT NIF (número de contribuinte), 9 digits    weighted mod 11 check digit (pt.nif)
=========  ===========================================  ==============================================

Identifiers made of digits only look like order numbers, so they are taken only after a cue word
(``needs_cue``); those with letters or a fixed structure (DNI, NIE, codice fiscale, NIR) stand alone.
Nothing here logs or raises with a value.
"""

from __future__ import annotations

import re
from typing import Callable, NamedTuple

from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.pt import nif


class NationalId(NamedTuple):
    """One identifier kind: ``pattern`` (a regex whose group ``v`` is the value), ``valid`` (the
    checksum over the value with separators), ``cues`` (case-insensitive words), ``needs_cue``."""

    pattern: str
    valid: Callable[[str], bool]
    cues: tuple[str, ...]
    needs_cue: bool


_D = r"(?<![\w/.,-])"  # not inside a longer word or number
_E = r"(?![\w/]|[.,-]\w)"
NATIONAL_IDS: dict[str, NationalId] = {
    "de_idnr": NationalId(
        _D + r"(?P<v>\d{2}[ ]?\d{3}[ ]?\d{3}[ ]?\d{3})" + _E, idnr.is_valid,
        ("steuer-id", "steuerid", "steuer-identifikationsnummer", "identifikationsnummer", "idnr",
         "steueridentifikationsnummer", "tin", "steuernummer", "id-nr"), True),
    "fr_nir": NationalId(
        _D + r"(?P<v>[12][ ]?\d{2}[ ]?(?:0[1-9]|1[0-2]|[2-9]\d)[ ]?(?:\d{2}|2[AB])[ ]?\d{3}[ ]?\d{3}[ ]?\d{2})" + _E,
        nir.is_valid,
        ("nir", "sécurité sociale", "securite sociale", "sécu", "secu", "insee", "numéro ss", "carte vitale"),
        False),
    "es_dni": NationalId(_D + r"(?P<v>\d{8}[ -]?[A-Za-z])" + _E, dni.is_valid,
                         ("dni", "nif", "documento", "identidad"), False),
    "es_nie": NationalId(_D + r"(?P<v>[XYZxyz][ -]?\d{7}[ -]?[A-Za-z])" + _E, nie.is_valid,
                         ("nie", "extranjero", "identidad"), False),
    "it_cf": NationalId(
        _D + r"(?P<v>[A-Za-z]{6}[0-9LMNPQRSTUVlmnpqrstuv]{2}[ABCDEHLMPRSTabcdehlmprst][0-9LMNPQRSTUVlmnpqrstuv]{2}"
        r"[A-Za-z][0-9LMNPQRSTUVlmnpqrstuv]{3}[A-Za-z])" + _E,
        codicefiscale.is_valid, ("codice fiscale", "cf", "c.f.", "cod. fisc."), False),
    "nl_bsn": NationalId(_D + r"(?P<v>\d{4}[ .]?\d{2}[ .]?\d{3}|\d{9})" + _E, bsn.is_valid,
                         ("bsn", "burgerservicenummer", "sofinummer", "sofi-nummer", "bsn-nummer"), True),
    "pt_nif": NationalId(_D + r"(?P<v>[1-35-9]\d{2}[ ]?\d{3}[ ]?\d{3})" + _E, nif.is_valid,
                         ("nif", "contribuinte", "número fiscal", "numero fiscal", "nº contribuinte"), True),
}

_SHAPES = {k: re.compile(r"^(?:" + v.pattern.replace("(?P<v>", "(?:") + r")$") for k, v in NATIONAL_IDS.items()}
_CUES = {k: re.compile(r"(?i)(?<![\w-])(?:" + "|".join(re.escape(c) for c in v.cues) + r")(?![\w-])")
         for k, v in NATIONAL_IDS.items()}
CUE_WINDOW = 40  # code points before a value searched for its cue


def has_id_cue(key: str, text: str, start: int) -> bool:
    """True when a cue word of identifier ``key`` is in the ``CUE_WINDOW`` code points before ``start``."""
    return _CUES[key].search(text, max(0, start - CUE_WINDOW), start) is not None


def is_valid(key: str, value: str) -> bool:
    """The identifier's checksum over ``value`` (separators allowed); never raises."""
    try:
        return bool(NATIONAL_IDS[key].valid(value))
    except Exception:  # noqa: BLE001 - stdnum raises its own errors on odd input: not valid
        return False


def invalid_national_id(text: str, start: int, end: int) -> bool:
    """True when ``text[start:end]`` has the shape of a national identifier (for the digit-only kinds:
    and that identifier's cue just before it) but fails its checksum, so that no other rule reports
    it as an identifier: ``DNI 31939071X`` is not an identity number."""
    value = text[start:end]
    return any(_SHAPES[k].match(value) and (not v.needs_cue or has_id_cue(k, text, start))
               and not is_valid(k, value) for k, v in NATIONAL_IDS.items())
