"""Full names the model typed a place or a company, or ran a word into, re-typed PERSON by their
given name and what touches them.

A *name run* is two or three capitalised words (a hyphenated pair counts as one) whose first word is a
given name of some Faker locale (``name_lexicon.given_names``: ``Pekka``, ``Tamás``, ``Трифон``), whose
other words are no stop word, verb, adjective or adverb of the model's lexicon, and that is no place
opening (``Saint``, ``Santa``...). Then:

- a contact line: a name run right before a phone number or an e-mail address on the same line (after
  a space, ``,``, ``:``, ``-``, ``(``, ``on`` or ``at``) is a person, whatever the model made of it
  (``Pekka Ojanen 286.307.5002``, ``Call Marcel Blažek on 918.812.3420``); leading capitalised
  words the lexicon knows (``Call``, ``Contact``) are not part of it;
- a word run into a name: a model ORGANIZATION, LOCATION or NRP span whose first word is in capitals
  (``CTO``) or known to the lexicon (``Call``, ``Ask``), followed by a name run to its end, is the
  person alone (``Call Sébastien Samson``, ``CTO Roza Suciu``).

A span overlapping a pattern-validated entity other than the contact, a shape rule's span (score 0.87
and up) or a span that reaches outside the name is never touched. The lexicon is the one
``recognizers.spacy_ner`` loads (without one this does nothing). Cost: one bounded look-back per phone
number or e-mail address, one match per model span.
"""

from __future__ import annotations

import re

from ..name_lexicon import given_names
from ..recognizers import spacy_ner
from ..resolution import SpanIndex, replace_spans
from .lexicon_names import known

_WORD = r"[^\W\d_a-z][^\W\d_A-Z]{1,30}(?:-[^\W\d_a-z][^\W\d_A-Z]{1,30})?"
_RUN = _WORD + r"(?:[ \t]+" + _WORD + r"){1,2}"
# Capitalised words up to the contact (at most five: leading words are dropped), then a connector.
_BEFORE_CONTACT = re.compile(r"(?<![\w-])(?P<r>" + _WORD + r"(?:[ \t]+" + _WORD + r"){1,4})"
                             r"[ \t]*(?:[,:(-]|–|[ \t](?:on|at)[ \t]|[ \t])[ \t]*$")
_LEAD_AND_RUN = re.compile(r"(?P<lead>[^\W\d_]{2,20}\.?)[ \t]+(?P<r>" + _RUN + r")")
_WORDS = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)?")
_PLACE_OPENINGS = frozenset({"Saint", "Sainte", "Santa", "Santo", "San", "Sankt", "Port", "Fort", "Mount"})
_CONTACTS = frozenset({"PHONE_NUMBER", "EMAIL_ADDRESS"})
_MODEL_TYPES = frozenset({"ORGANIZATION", "LOCATION", "NRP"})
_NOT_NAME_WORD = ("stop", "verb", "adj", "adv")
_GIVEN = given_names()  # loaded with the engine (about 0.1 s), not in the first text's time


def _name_start(words: list[str], tables: dict) -> int | None:
    """The index of the first word of a name run ending with ``words``, or None."""
    for i in range(len(words) - 1):
        rest = words[i:]
        if len(rest) > 3 or rest[0] not in _GIVEN or rest[0] in _PLACE_OPENINGS:
            continue
        if any(known(p.lower(), tables, _NOT_NAME_WORD) for w in rest[1:] for p in w.split("-")):
            continue
        if any(w.isupper() for w in rest):
            continue
        return i
    return None


def contact_names(text: str, hard: list[list], soft: list[list]) -> list[list]:
    """Re-type and add PERSON spans over full names by their contact or the word run into them."""
    tables = spacy_ner._TABLES
    if not tables:
        return soft
    index = SpanIndex(soft)
    hard_index = SpanIndex(hard)
    for c in sorted((h for h in hard if h[0] in _CONTACTS), key=lambda h: h[1]):
        line = max(text.rfind("\n", 0, c[1]) + 1, c[1] - 90)
        m = _BEFORE_CONTACT.search(text, line, c[1])
        if not m:
            continue
        words = list(_WORDS.finditer(text, m.start("r"), m.end("r")))
        first = _name_start([w.group() for w in words], tables)
        if first is None or any(not known(w.group().lower(), tables) for w in words[:first]):
            continue
        _put(index, hard_index, soft, words[first].start(), m.end("r"), m.start("r"))
    for c in list(soft):
        if c[0] not in _MODEL_TYPES or c[3] >= 0.87:
            continue
        m = _LEAD_AND_RUN.fullmatch(text, c[1], c[2])
        if not m or not (m.group("lead").isupper() or known(m.group("lead").lower().rstrip("."), tables)):
            continue
        words = [w.group() for w in _WORDS.finditer(text, m.start("r"), m.end("r"))]
        if _name_start(words, tables) == 0:
            _put(index, hard_index, soft, m.start("r"), m.end("r"), c[1])
    return soft


def _put(index: SpanIndex, hard_index: SpanIndex, soft: list[list], s: int, e: int, lead: int) -> None:
    """A PERSON span over ``[s, e)``, replacing the named spans inside ``[lead, e)``; nothing when a
    pattern-validated entity, a shape rule's span or a span reaching outside is in the way."""
    if hard_index.overlapping(s, e):
        return
    clash = index.overlapping(min(s, lead), e)
    if any(c[0] not in _MODEL_TYPES | {"PERSON"} or c[3] >= 0.87 or c[1] < lead or c[2] > e for c in clash):
        return
    replace_spans(soft, index, clash, ["PERSON", s, e, 0.86])
