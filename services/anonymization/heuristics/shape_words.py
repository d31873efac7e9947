"""Words that give a capitalised run the shape of a company or a street, as regular-expression
alternations (longest first, so ``S.L.U.`` is tried before ``S.L.``).

- ``LEGAL_FORM``: legal-form abbreviations written after a company's name, from the ISO 20275 Entity
  Legal Forms code list (GLEIF) for the English-speaking countries and the EU/EEA languages Lethe
  detects in (``Textor GbR``, ``Havel Konečný s.r.o.``, ``Lehto Heikkilä Oyj``, ``Németh Kht.``,
  ``Grupa Michniak Sp. z o.o.``), and the group words ``Group``, ``Groep``, ``Gruppe``... Left out:
  forms that are also region codes after a place (``NV``, ``SA``); ``AB`` only when no postcode follows.
- ``ORG_HEAD``: words that open an organisation's name (``Stichting Jeggij``, ``Fundacja Maruszczyk``).
- ``STREET_KIND``: street suffixes of USPS Publication 28 (appendix C1) and the Royal Mail's common
  thoroughfare words that are not also common surnames: safe after an address cue such as ``on``.
- ``STREET_KIND_NUMBERED``: those plus the ones that are also surnames (``Hill``, ``Green``, ``Key``),
  safe only right after a house number (``531 Connor Vista``, ``45 Mathew Key``).
"""

from __future__ import annotations

import re


def _alternation(words: str) -> str:
    return "(?:" + "|".join(re.escape(w) for w in sorted(words.split(), key=len, reverse=True)) + ")"


LEGAL_FORM = _alternation(
    """LLC L.L.C. Inc Inc. Ltd Ltd. Limited PLC plc LLP L.P. Corp Corp. Corporation GmbH gGmbH mbH AG KG
    UG KGaA OHG GbR e.V. S.A. SAS S.A.S. SARL S.A.R.L. SNC EURL S.L. S.L.U. S.A.U. S.L.L. S.Coop. S.Com.
    S.C. S.R.L. SpA S.p.A. s.r.l. S.r.l. Srl s.a.s. s.n.c. B.V. BV N.V. V.O.F. VOF C.V. Oy Oyj Ky
    A/S ApS I/S ASA hf. ehf. ry s.r.o. a.s. v.o.s. k.s. sp.j. sp.k. s.c. Kft. Zrt. Nyrt. Bt. Kkt. Kht.
    Rt. d.o.o. j.d.o.o. d.d. s.p. o.s. Osk e.G. eG HB KB Lda. Ltda. Holdings Group Groep Gruppe Groupe Gruppo Grupo"""
) + r"|Sp\.[ \t]+z[ \t]+o\.o\.|(?:and|&)[ \t]+Sons|AB(?![ \t]+[A-Z]\d)"
# Joins inside a company's name: ``Nagy és társa``, ``Minería Solera y asociados``, ``Agazzi e Camicione``.
NAME_JOIN = r"(?:,?[ \t]+(?:(?:and|&|e|y|és|und|et|en|og|och|i)[ \t]+)?)"
PARTNER_WORD = r"(?:társa|asociados|associati|hijos|figli|fils|zonen|Söhne|Partner|Partners|Cie\.?)"
ORG_HEAD = _alternation(
    """Stichting Fundacja Stowarzyszenie Spółdzielnia Grupa Fundación Fundação Fondation Fondazione
    Stiftung Verein Koninklijke Cooperativa Coöperatie Familia Instituto Istituto"""
)
_STREET_WORDS = """Street Road Avenue Lane Drive Boulevard Terrace Crescent Square Squares Parkway Mews
    Alley Causeway Circle Crossing Expressway Extension Extensions Freeway Highway Junction Motorway Plaza
    Turnpike Trail Vista Ferry Falls Heights Estates Meadows Viaduct Skyway Underpass Overpass Throughway
    Trafficway Stravenue Gardens Close Court Place Way Grove Row St. Rd. Ave. Dr. Blvd. Ln."""
STREET_KIND = _alternation(_STREET_WORDS)
STREET_KIND_NUMBERED = _alternation(_STREET_WORDS + """ Hill Hills Green Park Brook Brooks Field Fields
    Lake Lakes Key Keys Glen Ridge Ridges Valley View Views Point Port Pass Path Pike Run Walk Knoll Knolls
    Landing Lodge Loop Manor Mill Mills Orchard Oval Haven Harbor Harbour Hollow Isle Island Islands
    Shore Shores Spring Springs Station Summit Trace Track Village Ville Well Wells Bend Bluff Bluffs
    Bypass Camp Canyon Cape Center Centre Cliff Cliffs Club Common Commons Corner Corners Course Courts
    Cove Coves Creek Crest Curve Dale Dam Divide Estate Flat Flats Ford Fords Forest Forge Fork Forks
    Fort Garden Gateway Grove Groves Inlet Junctions Light Lights Lock Locks Mall Meadow Mission Mount
    Mountain Neck Pine Pines Plain Plains Prairie Radial Ramp Ranch Rapid Rapids Rest River Route Shoal
    Stream Streets Tunnel Union Unions Wall""")
