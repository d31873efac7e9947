"""Entities inside CSV fragments stay inside one cell, a header names no one, and a column's cells
share its type.

A redaction that swallowed a delimiter or a quote would change a row's shape (``Doe,Main St`` as one
PERSON leaves a row with a cell less). So every span that crosses a cell's content is cut at the
cell's edges (pieces with fewer than 2 letters or digits, and name pieces without a capital, are
dropped), and a span never splits the two quotes of an escaped quote (``""``, paired from the start
of a quoted cell's content, RFC 4180 §2.7). A model span inside the header row (``Company Name``) is
a field name and dropped; a phone or id number filling a cell of a column whose header names ids,
counts or times (``order_id``, ``qty``, ``ts``) is that column's number, not personal data. Then the content types the columns the header did not: when
at least 60% of a column's non-empty cells (2 or more) hold a PERSON, LOCATION or ORGANIZATION
covering the whole cell, the column's other model-typed whole cells get that type too
(``Jordan`` typed LOCATION in a name column is a PERSON).
"""

from __future__ import annotations

import bisect
from collections import Counter

from ..structured import NOT_PERSONAL, csv_tables, key_meaning

_MAJORITY = 0.6
_COLUMN_TYPES = ("PERSON", "LOCATION", "ORGANIZATION")
_NUMBER_TYPES = frozenset({"PHONE_NUMBER", "ID_NUMBER"})
_NAMED = frozenset({"PERSON", "LOCATION", "ORGANIZATION", "NRP"})


def keep_csv_cells(text: str, hard: list[list], soft: list[list]) -> list[list]:
    """Cut spans at CSV cell edges and type columns by their majority (see the module docstring)."""
    if "\n" not in text:
        return soft
    tables = csv_tables(text)
    if not tables:
        return soft
    cells = sorted(c for table in tables for c in table.cells() + table.header_cells)
    starts = [s for s, _ in cells]
    ranges = [(t.start, _past_line_end(text, t.end)) for t in tables]
    for spans in (hard, soft):
        kept = []
        for c in spans:
            kept += _cut(text, c, cells, starts, ranges)
        spans[:] = kept
    not_personal = {_stripped(text, *row[col]) for t in tables for col, key in enumerate(t.header)
                    if key_meaning(key) == NOT_PERSONAL for row in t.rows}
    hard[:] = [c for c in hard if not (c[0] in _NUMBER_TYPES and (c[1], c[2]) in not_personal)]
    headers = [(t.start, text.find("\n", t.start)) for t in tables]
    soft[:] = [c for c in soft if not any(s <= c[1] and c[2] <= e for s, e in headers)]
    for table in tables:
        _type_columns(text, table, soft)
    return soft


def _cut(text: str, c: list, cells: list[tuple[int, int]], starts: list[int],
         tables: list[tuple[int, int]]) -> list[list]:
    """``c`` itself when it lies inside one cell or outside every table; else its pieces: one per
    cell it meets and one per stretch outside the tables. ``cells`` are sorted and disjoint, so the
    ones ``c`` meets are found by bisection; what lies between cells (delimiters, quotes, line
    ends) is never part of a piece."""
    if not any(s < c[2] and c[1] < e for s, e in tables):
        return [c]
    lo = max(0, bisect.bisect_right(starts, c[1]) - 1)
    hi = bisect.bisect_left(starts, c[2])
    inside = [(s, e) for s, e in cells[lo:hi] if s < c[2] and c[1] < e]
    if len(inside) == 1 and inside[0][0] <= c[1] and c[2] <= inside[0][1]:
        c = _whole_quotes(text, c, inside[0][0])
        return [c] if c[2] > c[1] else []
    outside, cursor = [], c[1]
    for s, e in tables:
        if s < c[2] and cursor < e:
            if cursor < s:
                outside.append((cursor, s))
            cursor = max(cursor, e)
    if cursor < c[2]:
        outside.append((cursor, c[2]))
    pieces = []
    for n, (s, e) in enumerate(inside + outside):
        a, b = max(s, c[1]), min(e, c[2])
        while a < b and text[a] in " \t\r\n":
            a += 1
        while b > a and text[b - 1] in " \t\r\n":
            b -= 1
        piece = text[a:b]
        if c[0] in _NAMED and not any(ch.isupper() for ch in piece):
            continue  # ``Mary Thomas,2583238321,quos`` as one PERSON: only the name's cell keeps it
        if sum(ch.isalnum() for ch in piece) >= 2:
            piece_span = [c[0], a, b, c[3]]
            pieces.append(_whole_quotes(text, piece_span, s) if n < len(inside) else piece_span)
    return [p for p in pieces if p[2] > p[1]]


def _whole_quotes(text: str, c: list, content: int) -> list:
    """Move the span's edges off the middle of an escaped quote pair (``""``) of the cell whose
    content starts at ``content``. In a quoted cell (RFC 4180 §2.7) the pairs are read from the
    content's start, so an edge splits a pair when an odd number of quotes stand right before it
    within the content; an unquoted cell's quotes are plain characters."""
    if content > 0 and text[content - 1] == '"':
        if _quotes_before(text, content, c[1]) % 2:
            c[1] += 1
        if _quotes_before(text, content, c[2]) % 2:
            c[2] -= 1
    return c


def _past_line_end(text: str, pos: int) -> int:
    """Past the ``\r\n`` or ``\n`` at ``pos`` (a table's end), so the last record's line end is the table's."""
    return pos + 2 if text.startswith("\r\n", pos) else pos + 1 if text.startswith("\n", pos) else pos


def _quotes_before(text: str, content: int, pos: int) -> int:
    n = pos
    while n > content and text[n - 1] == '"':
        n -= 1
    return pos - n


def _type_columns(text: str, table, soft: list[list]) -> None:
    by_cell = {(c[1], c[2]): c for c in soft}
    for col in range(len(table.header)):
        cells = [row[col] for row in table.rows if text[row[col][0]:row[col][1]].strip()]
        whole = [by_cell.get(_stripped(text, *cell)) for cell in cells]
        counts = Counter(c[0] for c in whole if c is not None and c[0] in _COLUMN_TYPES)
        if not counts or len(cells) < 2:
            continue
        etype, n = counts.most_common(1)[0]
        if n / len(cells) < _MAJORITY:
            continue
        for c in whole:
            if c is not None and c[0] in _COLUMN_TYPES + ("NRP",):
                c[0] = etype


def _stripped(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s] in " \t":
        s += 1
    while e > s and text[e - 1] in " \t":
        e -= 1
    return s, e
