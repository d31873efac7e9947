"""Keys of structured fragments (JSON, ``key: value`` lines, query strings, XML, CSV) and what they mean.

A value's key says what it is: ``"first_name": "marta"`` is a person whatever its case, and
``"order_id": 5551234567`` is no telephone whatever its digits. ``key_meaning`` maps a key (any
style: ``firstName``, ``first-name``, ``FIRST_NAME``) to an entity type, ``NOT_PERSONAL`` for keys of
ids, counts and times, or None; ``key_before`` finds the key a value starts after; ``csv_tables``
finds CSV fragments (a header row naming the columns, then rows with as many cells) with each cell's
offsets.
"""

from __future__ import annotations

import bisect
import re

NOT_PERSONAL = "NOT_PERSONAL"

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^a-z0-9]+")
_PERSON_QUALIFIERS = frozenset("""first last given family full middle display contact customer patient
recipient sender holder owner maiden person user account client employee legal real birth sur""".split())
_PERSON_KEYS = frozenset("""firstname lastname surname fullname givenname familyname middlename
displayname cardholder accountholder forename forenames nachname vorname nom prenom apellido""".split())
# In a CSV header, a person's role alone names a person (``customer``, ``patient``).
_PERSON_ROLES = frozenset("""customer client patient employee contact owner holder recipient sender
cardholder accountholder attendee speaker author applicant tenant guest passenger member""".split())
_ORG_TOKENS = frozenset("""company employer organization organisation org firm business
companyname employername""".split())
_EMAIL_TOKENS = frozenset({"email", "mail", "emailaddress", "e"})
_PHONE_TOKENS = frozenset({"phone", "tel", "telephone", "mobile", "cell", "cellphone", "fax", "msisdn",
                           "phonenumber", "landline", "whatsapp"})
_PLACE_TOKENS = frozenset({"address", "addr", "street", "streetaddress", "city", "town", "zip", "zipcode",
                           "postcode", "postalcode", "postal"})
_BIRTH_KEYS = frozenset({"dob", "dateofbirth", "birthdate", "birthday", "birth"})
_SSN_KEYS = frozenset({"ssn", "socialsecuritynumber", "socialsecurity"})
_NOT_PERSONAL_TOKENS = frozenset("""id ids uuid guid ts timestamp time ms created updated modified at
count qty quantity amount price total sku version seq sequence size offset limit hash order batch
invoice product item port pid epoch nonce index idx build line row page status score""".split())


def key_tokens(key: str) -> list[str]:
    """``firstName`` -> ``["first", "name"]``; ``ORDER-ID`` -> ``["order", "id"]``."""
    return [t for t in _SPLIT.split(_CAMEL.sub("_", key.strip()).lower()) if t]


def key_meaning(key: str) -> str | None:
    """The entity type a key's values have, ``NOT_PERSONAL``, or None when the key says nothing."""
    tokens = key_tokens(key)
    if not tokens or len(tokens) > 5:
        return None
    joined = "".join(tokens)
    if joined in _SSN_KEYS:
        return "US_SSN"
    if joined in _BIRTH_KEYS or (("birth" in tokens) and ("date" in tokens or "day" in tokens)):
        return "DATE_TIME"
    if any(t in _PHONE_TOKENS for t in tokens) or joined in _PHONE_TOKENS:
        return "PHONE_NUMBER"
    if any(t in _EMAIL_TOKENS for t in tokens) and tokens != ["e"]:
        return "EMAIL_ADDRESS"
    if joined in _PERSON_KEYS or ("name" in tokens and (len(tokens) == 1 or any(
            t in _PERSON_QUALIFIERS for t in tokens))):
        return "PERSON"
    if any(t in _PLACE_TOKENS for t in tokens) and not tokens[-1] in ("id", "type", "count"):
        return "LOCATION"
    if any(t in _NOT_PERSONAL_TOKENS for t in tokens) or tokens[-1].endswith("id"):
        return NOT_PERSONAL
    return None


# A key right before a value: ``"order_id": ``, ``order_id=``, ``Order ID: ``, ``<order_id>``.
_KEY_BEFORE = re.compile(r"""(?:["']|\\")?(?P<k>[A-Za-z_][A-Za-z0-9_.-]{0,40}|[A-Za-z][A-Za-z ]{0,30}[A-Za-z])"""
                         r"""(?:["']|\\")?[ \t]*[:=][ \t]*(?:["']|\\")?$|<(?P<t>[A-Za-z_][A-Za-z0-9_.-]{0,40})>$""")


def column_meaning(header: str) -> str | None:
    """A CSV column's meaning: ``key_meaning``, and also a person's role alone (``customer``,
    ``patient``) for PERSON and a company word (``company``, ``employer``) for ORGANIZATION. Only
    for column headers: after ``Contact:`` in prose a phone number follows as often as a name."""
    tokens = key_tokens(header)
    if tokens and len(tokens) <= 3 and any(t in _ORG_TOKENS for t in tokens) and tokens[-1] not in (
            "id", "type", "count", "size", "number", "no"):
        return "ORGANIZATION"
    meaning = key_meaning(header)
    if meaning is None and tokens and len(tokens) <= 2 and tokens[0] in _PERSON_ROLES:
        return "PERSON"
    return meaning


def key_before(text: str, start: int) -> str | None:
    """The key whose value starts at ``start``, or None (looks back at most 48 code points, same line)."""
    line = text.rfind("\n", max(0, start - 48), start) + 1
    m = _KEY_BEFORE.search(text, max(line, start - 48), start)
    if m is None:
        return None
    return m.group("k") or m.group("t")


# --- CSV fragments: a header row and rows with the same number of cells (RFC 4180 quoting) ---------

CSV_DELIMITERS = (",", ";", "\t")
# A header cell: a field name of at most three words (``first_name``, ``E-mail``, ``Phone (mobile)``).
_HEADER_CELL = re.compile(r"[ \t]*[A-Za-z_][A-Za-z0-9_./#()-]{0,30}(?:[ ][A-Za-z0-9_./#()-]{1,30}){0,2}[ \t]*")
MAX_CSV_CELLS = 64


class CsvTable:
    """One CSV fragment: ``delimiter``, ``header`` (the key of each column), ``header_cells`` (their
    spans) and ``rows`` (each a list of ``(start, end)`` cell contents: offsets into the text, inside
    the quotes of a quoted cell; a quoted cell's content may span lines)."""

    def __init__(self, delimiter: str, header: list[str], rows: list[list[tuple[int, int]]],
                 start: int, end: int, header_cells: list[tuple[int, int]] | None = None) -> None:
        self.delimiter, self.header, self.rows, self.start, self.end = delimiter, header, rows, start, end
        self.header_cells = header_cells or []

    def cells(self) -> list[tuple[int, int]]:
        """Every data cell's content span (header excluded)."""
        return [c for row in self.rows for c in row]


def _line_end(text: str, pos: int) -> int:
    """The end of the line holding ``pos``: its ``\\n`` (or the text's end), a ``\\r`` before it excluded."""
    nl = text.find("\n", pos)
    nl = len(text) if nl < 0 else nl
    return nl - 1 if nl > pos and text[nl - 1] == "\r" else nl


def split_csv_record(text: str, start: int, eol: int,
                     delimiter: str) -> tuple[list[tuple[int, int]], int] | None:
    """One record from ``start`` (a line's start; ``eol`` that line's end, see ``_line_end``) as
    csv's default dialect reads it (RFC 4180 §2): a cell is quoted only when its first character
    is ``"``; a quoted cell holds anything (delimiters, ``""`` for a quote, CR and LF, so a record
    may span lines) up to its closing quote, which only spaces and then a delimiter or the line's
    end may follow; an unquoted cell runs to the next delimiter and holds no CR.

    :returns: the cells' content spans and the end of the record's last line, or None when the
        quoting is broken or the record has more than ``MAX_CSV_CELLS`` cells. A quoted cell's
        closing quote ends the first run of quotes of odd length after its opening; another
        record's opening quote inside a cell starts a run of even length, so a scan from it ends
        in that run: scans overlap by one run at most, and time is linear in the text.
    """
    cells, i = [], start
    while True:
        if len(cells) >= MAX_CSV_CELLS:
            return None
        if i < eol and text[i] == '"':
            k = i + 1
            while True:
                k = text.find('"', k)
                if k < 0:
                    return None
                if k + 1 < len(text) and text[k + 1] == '"':
                    k += 2
                    continue
                break
            cells.append((i + 1, k))
            if k > eol:  # the cell held a line end: the record goes on on the closing quote's line
                eol = _line_end(text, k)
            k += 1
            while k < eol and text[k] == " ":
                k += 1
            if k < eol and text[k] != delimiter:
                return None
        else:
            k = text.find(delimiter, i, eol)
            k = eol if k < 0 else k
            if "\r" in text[i:k]:  # csv ends a record at a lone CR
                return None
            cells.append((i, k))
        if k >= eol:
            return cells, eol
        i = k + 1  # past the delimiter


def csv_tables(text: str) -> list[CsvTable]:
    """CSV fragments in ``text``: a line of 2+ header-like cells (names of fields, no digits first)
    followed by 1+ records with the same delimiter and as many cells (a record may span lines inside
    quotes). Each line starts a record at most twice per delimiter, so time is linear in the text."""
    starts, pos = [], 0
    while pos <= len(text):
        starts.append(pos)
        nl = text.find("\n", pos)
        pos = len(text) + 1 if nl < 0 else nl + 1
    tables: list[CsvTable] = []
    i = 0
    while i < len(starts):
        found = None
        for delim in CSV_DELIMITERS:
            s, e = starts[i], _line_end(text, starts[i])
            if delim not in text[s:e]:
                continue
            header = split_csv_record(text, s, e, delim)
            if not header or header[1] != e or len(header[0]) < 2 or not all(
                    _HEADER_CELL.fullmatch(text, a, b) for a, b in header[0]):
                continue
            rows, end, j = [], e, i + 1
            while j < len(starts):
                row = split_csv_record(text, starts[j], _line_end(text, starts[j]), delim)
                if row is None or len(row[0]) != len(header[0]):
                    break
                rows.append(row[0])
                end = row[1]
                j = bisect.bisect_right(starts, end)  # the line after the record's last
            if rows:
                found = CsvTable(delim, [text[a:b].strip() for a, b in header[0]], rows, s, end, header[0])
                i = j - 1
                break
        if found:
            tables.append(found)
        i += 1
    return tables
