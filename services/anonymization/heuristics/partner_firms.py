"""Partnership names typed ORGANIZATION wherever they stand: ``Smith, Ibarra and Parks``, ``Mason-Garcia``.

A firm named after its partners lists three surnames, ``<A>, <B> and <C>`` (``&`` for ``and``, no comma
before it; each one capitalised word, a hyphenated pair counting as one), or joins two with a hyphen,
``<A>-<B>``. The model reads the pieces as people. ``cue_typing`` types such names after a company cue
(``works at``, ``from``); this types them anywhere, by the names themselves: a firm when at least two
of the names are English surnames and at most one word is an English first name (``name_lexicon``:
Faker's en_US and en_GB lexicons), so a list of people by their first names, ``Anna, Maria and Tom``,
stays three people. Left alone: a list that is part of a longer one (an item before ``<A>,``) or follows
a title (``Mr.``, ``Dr.``) or a word naming people (``friends``, ``founders``...); a hyphenated pair
after a capitalised word (``Anna Johnson-Taylor``: a double surname); anything overlapping a
pattern-validated entity or a model span that reaches outside it.

The model's spans inside the firm (PERSON, ORGANIZATION, LOCATION, NRP) are replaced by one
ORGANIZATION span (score 0.87, a company by its shape: the later heuristics leave it whole). Cost: one
regular-expression scan of the text, a set look-up per name.
"""

from __future__ import annotations

import re

from ..name_lexicon import english_names
from ..resolution import SpanIndex, replace_spans

_NAMED = frozenset({"PERSON", "ORGANIZATION", "LOCATION", "NRP"})
_CAP = r"[A-Z][a-z]{1,20}(?:-[A-Z][a-z]{1,20})?"
_FIRM = re.compile(r"(?<![\w-])(?P<a>" + _CAP + r"),[ \t]+(?P<b>" + _CAP + r")[ \t]+(?:and|&)[ \t]+(?P<c>"
                   + _CAP + r")(?![\w-])|(?<![\w-])(?P<h>[A-Z][a-z]{1,20}-[A-Z][a-z]{1,20})(?![\w-])")
# Before a hyphenated pair: a first name, an initial or a title (``Anna Johnson-Taylor``, ``Mrs. Ray-Hill``).
_WORD_BEFORE = re.compile(r"([^\W\d_])[\w.'’]*[ \t]+$")
# Before the list: another item (``X, <A>, <B> and <C>``), a title, or a word naming people.
_NOT_FIRM_BEFORE = re.compile(
    r"(?:[A-Za-z],[ \t]*|\b(?:Mr|Mrs|Ms|Mx|Dr|Prof|Messrs)\.?[ \t]+"
    r"|(?i:\b(?:friends|founders|children|kids|sons|daughters|siblings|guests|players|colleagues|authors|"
    r"parents|neighbou?rs|brothers|sisters|cousins|students|team[ \t]?mates)\b[^.!?\n]{0,12}))$")

_FIRST, _LAST = english_names()  # loaded with the engine, not in the first text's time


def _is_firm(names: list[str]) -> bool:
    first, last = _FIRST, _LAST
    parts = [p for n in names for p in n.split("-")]
    surnames = sum(any(p in last for p in n.split("-")) for n in names)
    return surnames >= 2 and sum(p in first for p in parts) <= 1


def partner_firms(text: str, hard: list[list], soft: list[list]) -> list[list]:
    """Type ``<A>, <B> and <C>`` ORGANIZATION when its names are surnames (see the module docstring)."""
    if ", " not in text:
        return soft
    hard_index = soft_index = None
    for m in _FIRM.finditer(text):
        if _NOT_FIRM_BEFORE.search(text, max(0, m.start() - 40), m.start()):
            continue
        if m.group("h"):
            before = _WORD_BEFORE.search(text, max(0, m.start() - 40), m.start())
            if (before and before.group(1).isupper()) or not _is_firm(m.group("h").split("-")):
                continue
        elif not _is_firm([m.group("a"), m.group("b"), m.group("c")]):
            continue
        if hard_index is None:
            hard_index, soft_index = SpanIndex(hard), SpanIndex(soft)
        s, e = m.span()
        clash = soft_index.overlapping(s, e)
        if hard_index.overlapping(s, e) or any(c[0] not in _NAMED or c[1] < s or c[2] > e for c in clash):
            continue
        replace_spans(soft, soft_index, clash, ["ORGANIZATION", s, e, 0.87])
    return soft
