"""CSV fragments inside texts: columns typed by their header (name, address, phone, e-mail, company...)
and by their content; redaction keeps the fragment's shape (the same rows and cells per row, as
``csv`` reads them) with every operator. Generated with Faker over seeds, delimiters, quoting styles
and header spellings; adversarial cells (quotes, delimiters, blanks) from hypothesis."""

from __future__ import annotations

import csv
import io
import os
import random

import pytest
from faker import Faker
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from services.anonymization.engine import DetectionEngine, deidentify
from services.anonymization.operators import SurrogateOperator
from services.anonymization.structured import csv_tables

_COLUMNS = {  # header spellings -> (maker, personal?)
    ("name", "full_name", "Customer Name", "contact", "customer"): ("name", True),
    ("email", "E-mail", "email_address", "mail"): ("email", True),
    ("phone", "Phone Number", "mobile", "tel"): ("phone_number", True),
    ("address", "street_address", "Street"): ("street_address", True),
    ("city", "town"): ("city", True),
    ("company", "employer", "Company Name"): ("company", True),
    ("order_id", "sku", "qty", "batch"): ("random_number", False),
    ("status", "notes"): ("word", False),
}


def _table(seed: int) -> tuple[str, list[list[str]], list[bool], str]:
    rng = random.Random(seed)
    fake = Faker(["en_US", "en_GB"])
    fake.seed_instance(seed)
    groups = rng.sample(sorted(_COLUMNS, key=str), rng.randrange(3, 7))
    header = [rng.choice(g) for g in groups]
    personal = [_COLUMNS[g][1] for g in groups]
    rows = [header]
    for _ in range(rng.randrange(2, 9)):
        row = []
        for g in groups:
            maker = _COLUMNS[g][0]
            value = str(getattr(fake, maker)(digits=10) if maker == "random_number" else getattr(fake, maker)())
            row.append(value.replace("\n", ", "))
        rows.append(row)
    delimiter = rng.choice([",", ";", "\t"])
    buf = io.StringIO()
    quoting = rng.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])
    csv.writer(buf, delimiter=delimiter, quoting=quoting, lineterminator="\n").writerows(rows)
    return buf.getvalue(), rows, personal, delimiter


@pytest.fixture(scope="module")
def engine() -> DetectionEngine:
    eng = DetectionEngine(workers=1)
    yield eng
    eng.close()


def _parse(text: str, delimiter: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


@pytest.mark.parametrize("seed", range(0, 60, 3))
def test_redacted_csv_keeps_its_shape_and_hides_every_personal_cell(engine, seed):
    body, rows, personal, delimiter = _table(seed)
    text = f"Here is the export you asked for:\n{body}Can you dedupe it?"
    found = engine.analyze(text)
    for operator in ("placeholder", "mask", SurrogateOperator()):
        key = bytes(range(32)) if not isinstance(operator, str) else None
        out = deidentify(text, found, operator, key)
        lines = out.split("\n")
        table = _parse("\n".join(lines[1:1 + len(rows)]), delimiter)
        assert [len(r) for r in table] == [len(r) for r in rows], (operator, out)
        assert table[0] == rows[0]
        for r_in, r_out in zip(rows[1:], table[1:]):
            for value, kept, is_personal in zip(r_in, r_out, personal):
                if is_personal:
                    assert value.strip() not in kept, (operator, value, out)
                elif value.isdigit():
                    assert kept == value, (operator, value, out)


@pytest.mark.parametrize("seed", range(1, 40, 4))
def test_each_table_is_found_with_its_header_and_cells(seed):
    body, rows, _personal, delimiter = _table(seed)
    text = f"before\n{body}after"
    tables = csv_tables(text)
    assert len(tables) == 1 and tables[0].delimiter == delimiter
    assert tables[0].header == [h.strip() for h in rows[0]]
    assert [[text[a:b].replace('""', '"') for a, b in row] for row in tables[0].rows] == rows[1:]


def test_prose_with_commas_is_no_table():
    fake = Faker("en_US")
    for seed in range(30):
        fake.seed_instance(seed)
        text = "\n".join(fake.sentence() + ", " + fake.sentence() for _ in range(3))
        assert csv_tables(text) == [] or all(len(t.header) <= 3 for t in csv_tables(text))


_CELL = st.text(alphabet=st.sampled_from(list('abcXYZ Jo,;\t"\'.-@01')), max_size=14)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.lists(_CELL, min_size=3, max_size=3), min_size=1, max_size=4),
       delimiter=st.sampled_from([",", ";", "\t"]), names=st.lists(st.sampled_from(
           ["John Doe", "Mary-Ann O'Neil", "Lee, Ann", "Paris", "jane@example.com", "+1 202 555 0143"]),
           min_size=1, max_size=4))
def test_any_cells_keep_the_shape(engine, cells, delimiter, names):
    rows = [["name", "email", "notes"]] + [[names[i % len(names)], *r[1:]] for i, r in enumerate(cells)]
    rows = [[c.strip() for c in r] for r in rows]
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerows(rows)
    out = deidentify(buf.getvalue(), engine.analyze(buf.getvalue()))
    assert [len(r) for r in _parse(out, delimiter)] == [len(r) for r in _parse(buf.getvalue(), delimiter)]


def test_a_column_takes_the_type_most_of_its_cells_have():
    from services.anonymization.heuristics.csv_cells import keep_csv_cells

    text = "a,b\nJordan Lee,1\nMary Fox,2\nAnn Roe,3\n"
    spans = {v: [text.index(v), text.index(v) + len(v)] for v in ("Jordan Lee", "Mary Fox", "Ann Roe")}
    soft = [["LOCATION", *spans["Jordan Lee"], 0.8], ["PERSON", *spans["Mary Fox"], 0.85],
            ["PERSON", *spans["Ann Roe"], 0.85]]
    assert {c[0] for c in keep_csv_cells(text, [], soft)} == {"PERSON"}
    # no majority (one of three): the model's types stay
    soft = [["LOCATION", *spans["Jordan Lee"], 0.8], ["PERSON", *spans["Mary Fox"], 0.85]]
    assert sorted(c[0] for c in keep_csv_cells(text, [], soft)) == ["LOCATION", "PERSON"]


# Any cell content csv can write (RFC 4180 §2): quotes, every delimiter, CR and LF (quoted), spaces
# at either end, letters beyond ASCII, and line separators csv does not split at.
_ANY_CELL = st.text(alphabet=st.sampled_from(list('abXYZ Jo,;\t"\'.-@01\r\né\x85\u2028')), max_size=14)
_EXAMPLES = max(300, int(os.environ.get("LETHE_FUZZ_EXAMPLES", "0")))


def _csv_text(header: list[str], rows: list[list[str]], delimiter: str, quoting: int, eol: str) -> str:
    """The fragment as ``csv.writer`` writes it. That writer quotes a cell for the characters of its
    line terminator only, so with LF it leaves a CR unquoted, which ``csv.reader`` refuses: not CSV."""
    assume(eol == "\r\n" or quoting == csv.QUOTE_ALL or not any("\r" in c for r in rows for c in r))
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, quoting=quoting, lineterminator=eol).writerows([header, *rows])
    return buf.getvalue()


_TABLES = st.integers(2, 4).flatmap(lambda n: st.tuples(
    st.lists(st.lists(_ANY_CELL, min_size=n, max_size=n), min_size=1, max_size=4),
    st.just(["name", "city", "Phone Number", "notes"][:n]), st.sampled_from([",", ";", "\t"]),
    st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]), st.sampled_from(["\n", "\r\n"])))


@settings(max_examples=_EXAMPLES, deadline=None)
@example(table=([['"0J",0', '']], ["name", "city"], ",", csv.QUOTE_MINIMAL, "\n"))
@example(table=([["a\r\nb", 'x""y'], ['"', "\n"]], ["name", "city"], ";", csv.QUOTE_ALL, "\r\n"))
@given(table=_TABLES)
def test_any_rows_are_read_as_csv_reads_them(table):
    """Quoted cells holding quotes, delimiters and line ends (a record over several lines) are read
    cell for cell as ``csv.reader`` reads them."""
    rows, header, delimiter, quoting, eol = table
    text = "Export:\n" + _csv_text(header, rows, delimiter, quoting, eol) + "thanks"
    tables = csv_tables(text)
    assert len(tables) == 1 and tables[0].header == header
    got = [[text[a:b].replace('""', '"') if text[a - 1] == '"' else text[a:b] for a, b in r]
           for r in tables[0].rows]
    assert got == _parse(text[text.index("\n") + 1:text.rindex("thanks")], delimiter)[1:]


@settings(max_examples=_EXAMPLES, deadline=None)
@example(table=([['"0J",0', '']], ["name", "city"], ",", csv.QUOTE_MINIMAL, "\n"), spans=[(0, 16, False)])
@example(table=([['a""b', '"",""']], ["name", "city"], ",", csv.QUOTE_ALL, "\n"), spans=[(13, 3, True)])
@given(table=_TABLES, spans=st.lists(st.tuples(st.integers(0, 400), st.integers(1, 400), st.booleans()),
                                     max_size=6))
def test_any_span_is_cut_to_cells_and_never_splits_an_escaped_quote(table, spans):
    """Spans anywhere (over delimiters, quotes, escaped quotes and quoted line ends) are cut so that
    the redacted fragment has the same records and cells per record as csv reads them."""
    from services.anonymization.heuristics.csv_cells import keep_csv_cells

    rows, header, delimiter, quoting, eol = table
    text = _csv_text(header, rows, delimiter, quoting, eol)
    hard, soft = [], []
    for start, length, is_hard in spans:
        start = min(start, len(text) - 1)
        end = min(len(text), start + length)
        if end > start:
            (hard if is_hard else soft).append(["PHONE_NUMBER" if is_hard else "PERSON", start, end, 0.9])
    soft = keep_csv_cells(text, hard, soft)
    out, cursor = [], 0
    for c in sorted(hard + soft, key=lambda c: c[1]):
        if c[1] < cursor or c[2] <= c[1]:  # resolution drops empty spans
            continue
        out += [text[cursor:c[1]], "<X>"]
        cursor = c[2]
    redacted = "".join(out) + text[cursor:]
    assert [len(r) for r in _parse(redacted, delimiter)] == [len(r) for r in _parse(text, delimiter)]


@pytest.mark.parametrize("text", ["Contact: 555-123-4567", "Customer: (555) 765-4321 after 5pm",
                                  "Company: 202-555-0143"])
def test_role_and_company_words_type_csv_columns_only_not_prose_labels(engine, text):
    assert any(d.type == "PHONE_NUMBER" for d in engine.analyze(text))
