"""PERSON spans that the words around them show to be a place or a company, re-typed.

- A house number before a PERSON span after an address verb or a colon makes it a street (``go to 3829
  Kolutie Valkeakoski``); the span is widened over the number.
- An address continues after its street: a PERSON span on the same line after a street that starts
  with a house number, separated from it only by punctuation, numbers, unit words (``Apt. 724``) or other
  places, is a place (``14 Crown Street Kishiev Squares``, ``550 Lauren Falls, Woodardview``); so is one
  followed by its own house number at the end of a clause (``on Peter Zuidhove 188``) or by a region
  code and postcode (``Dusino San Michele, AT 31295``).
- A place cue before: ``I am in``, ``I'm in``, ``home city``, ``hometown``, ``a trip to``,
  ``takes place in``, ``visiting``, ``turn left onto``, ``continue to``, a dwelling verb with ``in``
  (``lives in``, ``born in``, ``grew up in``) or a journey verb with ``to`` (``coming to``, ``moved to``,
  ``flew back to``, ``welcome to``); never before a possessive: ``I'm in Anna's car``.
- A company's predicate after (``<X> is a design agency``, ``<X> is the brainchild of``, ``<X> is an
  investment bank``) or a workplace cue before (``I work for``, ``a year at``, ``employed by``,
  ``on behalf of``, a ``Company:`` or ``Employer:`` label).

Input and output are the resolution's ``[type, start, end, score]`` lists (see the package docstring);
only the type changes (and a street's start, over free text), so no span starts to overlap another. Every regular expression is anchored
next to a span and bounded, so the cost is linear in the number of spans.
"""

from __future__ import annotations

import re

from ..resolution import SpanIndex

_STREET_START = re.compile(r"\d{1,5}[A-Za-z]?[ \t]")
# What may sit between a street and the town after it: punctuation, numbers, unit words.
_ADDRESS_GAP = re.compile(r"(?:[ \t,.;/#-]|\d{1,6}|(?i:apt|apartment|suite|ste|unit|flat|floor|box|no)\b)*")
# A house number right before the span, after an address verb or a colon (``go to 3829 Kolutie``).
_NUMBER_BEFORE = re.compile(r"(?:(?i:\b(?:to|at|on|is|from))|[:,]|^)[ \t]*(?P<num>\d{1,5}[A-Za-z]?)[ \t]+$", re.M)
# A street the model left untyped, then a comma: ``7977 Owocowa, <town>``, ``12 Na Křivce, <town>``.
_UNTYPED_STREET = re.compile(r"(?<![\w.,-])\d{1,5}[A-Za-z]?(?:[ \t]+(?:[^\W\d_a-z][\w'’.-]*|[a-zà-ÿ]{1,6})){1,4}"
                             r"[ \t]*,[ \t]*$")
_OWN_NUMBER = re.compile(r"[ \t]+\d{1,4}[A-Za-z]?(?=[ \t]*(?:[,;.?!\n]|$|(?i:apt|suite|unit)\b))")
_REGION_POSTCODE = re.compile(r",?[ \t]+[A-Z]{2,3}\.?,?[ \t]+\d{4,6}\b")
_PLACE_BEFORE = re.compile(
    r"(?i:\b(?:i[ \t]+am|i'm|we[ \t]+are|we're|stay(?:ing|ed)?|takes?[ \t]+place|took[ \t]+place)[ \t]+in"
    r"|\bhome[ \t]+(?:city|town)|\bhometown|\b(?:city|town|village)[ \t]+of|\btrip[ \t]+to|\bvisit(?:ing|ed)?"
    r"|\bturn(?:ed)?[ \t]+(?:left|right)[ \t]+(?:onto|into|on)|\bcontinue[ \t]+(?:to|on|along)"
    r"|\b(?:liv(?:e|es|ed|ing)|born|based|raised|grew[ \t]+up|resid(?:e|es|ed|ing))[ \t]+in"
    r"|\b(?:(?:com|go|mov|travell?|fly|driv|relocat|head|return)ing|moved|relocated|flew|drove|travell?ed"
    r"|returned|headed|move|relocate|fly|drive|travel|welcome)[ \t]+(?:back[ \t]+)?to)"
    r":?[ \t]+$"
)
_ORG_AFTER = re.compile(
    r"[ \t]+is[ \t]+(?:the[ \t]+brainchild\b|(?:a|an)[ \t]+(?:[\w()-]+[ \t]+){0,3}?"
    r"(?:agency|company|firm|bank|startup|start-up|brand|manufacturer|provider|retailer|consultancy|"
    r"corporation|business|nonprofit|non-profit|charity|organi[sz]ation|501\(c\)\(?3\)?|conglomerate|"
    r"publisher|studio|label|insurer|airline|operator|supplier|vendor|platform)\b)"
)
_ORG_BEFORE = re.compile(
    r"(?i:\b(?:i|we|she|he|they)[ \t]+(?:work|worked|works)[ \t]+(?:for|at)|\bemployed[ \t]+(?:by|at)"
    r"|\b(?:a|one|two|three|\d+)[ \t]+years?[ \t]+at|\binterned[ \t]+at|\binternship[ \t]+at"
    r"|\bon[ \t]+behalf[ \t]+of"
    r"|\b(?:company|employer|organi[sz]ation|business|firm)[ \t]*:)[ \t]*$"
)


def retype_non_persons(text: str, hard: list[list], soft: list[list]) -> list[list]:
    """Re-type PERSON spans that their surroundings show to be places or companies (module docstring)."""
    places = sorted((c for c in hard + soft if c[0] == "LOCATION"), key=lambda c: c[1])
    hard_index = SpanIndex(hard)
    for c in soft:
        if c[0] != "PERSON":
            continue
        s, e = c[1], c[2]
        if text[e:e + 2] in ("'s", "’s"):
            continue
        number = _NUMBER_BEFORE.search(text, max(0, s - 16), s)
        if number and not any(o is not c and o[1] < s and o[2] > number.start("num") for o in hard + soft):
            c[0], c[1] = "LOCATION", number.start("num")  # the house number is part of the street
        elif (_after_street(text, s, places) or _own_number(text, e, hard_index) or _REGION_POSTCODE.match(text, e)
              or _UNTYPED_STREET.search(text, max(text.rfind("\n", 0, s) + 1, s - 60), s)):
            c[0] = "LOCATION"
        elif _PLACE_BEFORE.search(text, max(0, s - 30), s):
            c[0] = "LOCATION"
        elif _ORG_AFTER.match(text, e, min(len(text), e + 80)) or _ORG_BEFORE.search(text, max(0, s - 40), s):
            c[0] = "ORGANIZATION"
    return soft


def _own_number(text: str, end: int, hard_index: SpanIndex) -> bool:
    """A house number after the span, not the start of a pattern-validated entity (``Pekka Ojanen
    286.307.5002`` is a name and a phone number)."""
    m = _OWN_NUMBER.match(text, end)
    return bool(m) and not hard_index.overlapping(m.end() - 1, m.end())


def _after_street(text: str, start: int, places: list[list]) -> bool:
    """True when a street starting with a house number ends before ``start`` on the same line, with only
    address filler (or other places) between them."""
    line_start = text.rfind("\n", 0, start) + 1
    cursor = start
    for p in reversed(places):
        if p[2] > cursor or p[2] < line_start:
            continue
        if _ADDRESS_GAP.fullmatch(text, p[2], cursor) is None:
            return False
        if _STREET_START.match(text, p[1]):
            return True
        cursor = p[1]
    return False
