"""Coordinated items share a type: ``Gaetane, Hannah, Anthony and Andrew`` are all people."""

from __future__ import annotations

import re

from ..resolution import SpanIndex as _SpanIndex

_LIST_ITEM = r"[^\W\d_a-z][^\W\d_]+(?:[ \t][^\W\d_a-z][^\W\d_]+)?"
# ``Gaetane, Hannah, Anthony, Derek, Anna and Andrew``: three or more capitalised items.
_COORDINATION = re.compile(
    r"(?<![\w-])" + _LIST_ITEM + r"(?:,[ \t]+" + _LIST_ITEM + r"){1,8},?[ \t]+(?:and|or|&)[ \t]+" + _LIST_ITEM
    + r"(?![\w-])"
)
_ITEM = re.compile(_LIST_ITEM)


# A list that names people by what comes before it: ``They had 6: ...``, ``our 3 founders: ...``.
_PEOPLE_LEAD = re.compile(
    r"(?i:\b(?:(?:had|have|has)[ \t]+(?:\d{1,2}|two|three|four|five|six|seven|eight|nine|ten)"
    r"|founders|co-founders|children|kids|sons|daughters|siblings|grandchildren|friends|guests|attendees|"
    r"participants|speakers|players|employees|colleagues|authors)[ \t]*:[ \t]*)$")


def coordinated_persons(text: str, hard: list[list], soft: list[list]) -> list[list]:
    """Coordinated items share a type: in a list of capitalised items led by PERSON, all are PERSON.

    Applied when at least one item is PERSON and no more items carry another type than PERSON, or when
    a people word leads the list (``They had 6:``, ``our 3 founders:``); a list touching a structured
    entity or an address (score >= 0.88) is left alone.
    """
    index = None
    for m in _COORDINATION.finditer(text):
        if index is None:
            index = _SpanIndex(hard + soft)
        items = [(i.start(), i.end()) for i in _ITEM.finditer(text, m.start(), m.end())
                 if text[i.start():i.end()] not in ("and", "or")]
        if len(items) < 3:
            continue
        typed = [index.overlapping(*sp) for sp in items]
        persons = sum(any(c[0] == "PERSON" for c in k) for k in typed)
        others = sum(bool(k) and not any(c[0] == "PERSON" for c in k) for k in typed)
        if _PEOPLE_LEAD.search(text, max(0, m.start() - 40), m.start()):
            persons, others = max(persons, 1), 0  # the lead says these are people
        if not persons or others > persons or any(c in hard or c[3] >= 0.88 for k in typed for c in k
                                                  if c[0] != "PERSON"):
            continue
        for sp, k in zip(items, typed):
            if any(c[0] == "PERSON" and c[1] <= sp[0] and c[2] >= sp[1] for c in k):
                continue
            for c in k:
                if c in soft:
                    soft.remove(c)
                    index.remove(c)
            soft.append(["PERSON", sp[0], sp[1], 0.75])
            index.add(soft[-1])
    return soft
