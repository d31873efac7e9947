"""Invisible characters and look-alikes never split or hide an identifier.

Every format character (Unicode category Cf) and a sample of combining marks is inserted at every
position inside generated identifiers of each kind (SSN, e-mail, phone, card, IBAN); the whole
original span, the inserted character included, must be redacted. Confusable digits and symbols
(fullwidth, Arabic-Indic, Devanagari, small/fullwidth ``@``) must be read as their ASCII forms.
"""

from __future__ import annotations

import random
import unicodedata

import pytest

from services.anonymization.engine import DetectionEngine, deidentify
from services.anonymization.normalization import normalize_with_map, removed_characters, to_original
from services.anonymization.recognizers.credit_card import luhn_ok

FORMAT_CHARS = [c for c in removed_characters() if unicodedata.category(c) == "Cf"]
MARKS = ["\u0301", "\u0308", "\u0336", "\u20dd", "\u0489", "\ufe0f", "\u0332"]


@pytest.fixture(scope="module")
def engine() -> DetectionEngine:
    eng = DetectionEngine(workers=1)
    yield eng
    eng.close()


def _card(rng: random.Random) -> str:
    body = "4" + "".join(rng.choice("0123456789") for _ in range(14))
    number = next(body + d for d in "0123456789" if luhn_ok(body + d))
    return " ".join(number[i:i + 4] for i in range(0, 16, 4))


def _iban(rng: random.Random) -> str:
    bban = "".join(rng.choice("0123456789") for _ in range(18))
    check = 98 - int(bban + "131400") % 97  # DE -> 13 14, check digits 00
    return f"DE{check:02d}{bban}"


def _identifiers(seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    ssn = f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"
    user = rng.choice(["maria", "j.okafor", "lena.vik", "tom_h"])
    return [
        ("US_SSN", f"SSN {ssn} on file.", ssn),
        ("EMAIL_ADDRESS", f"Write to {user}@example.org today.", f"{user}@example.org"),
        ("PHONE_NUMBER", "Call me on +44 20 7946 0018 tonight.", "+44 20 7946 0018"),
        ("CREDIT_CARD", f"Charge {(c := _card(rng))} today.", c),
        ("IBAN_CODE", f"Pay to {(i := _iban(rng))} please.", i),
    ]


def _insertions(chars: list[str], with_end: bool):
    for kind, text, value in _identifiers(7):
        start = text.index(value)
        last = len(value) + 1 if with_end else len(value)
        for pos in range(1, last):
            for ch in chars:
                at = start + pos
                yield kind, text[:at] + ch + text[at:], start, start + len(value) + 1


def _assert_whole_span_redacted(engine, cases) -> None:
    cases = list(cases)
    failures = []
    for (kind, text, start, end), dets in zip(cases, engine.analyze_batch([c[1] for c in cases])):
        covered = any(d.start <= start and d.end >= end for d in dets)
        if not covered:
            failures.append((kind, text.encode("unicode_escape").decode(), [(d.type, d.start, d.end) for d in dets]))
    assert not failures, f"{len(failures)} of {len(cases)} not covered, e.g. {failures[:5]}"


def test_every_format_character_inside_every_identifier_kind_is_redacted_with_it(engine):
    assert len(FORMAT_CHARS) > 100  # the whole category, not a hand-picked list
    rng = random.Random(3)
    # Every Cf character at every position would be ~60k texts: every position gets the usual
    # suspects plus a random sample of the rest of the category, and every character is used.
    usual = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u202e", "\u2066"]
    rest = [c for c in FORMAT_CHARS if c not in usual]
    cases = []
    for kind, text, value in _identifiers(11):
        s = text.index(value)
        for pos in range(1, len(value)):
            for ch in usual + rng.sample(rest, 3):
                cases.append((kind, text[:s + pos] + ch + text[s + pos:], s, s + len(value) + 1))
    for n, ch in enumerate(rest):  # each remaining Cf character once, cycling kinds and positions
        kind, text, value = _identifiers(n)[n % 5]
        s, pos = text.index(value), 1 + n % (len(value) - 1)
        cases.append((kind, text[:s + pos] + ch + text[s + pos:], s, s + len(value) + 1))
    _assert_whole_span_redacted(engine, cases)


def test_combining_marks_inside_or_after_an_identifier_are_redacted_with_it(engine):
    _assert_whole_span_redacted(engine, _insertions(MARKS, with_end=True))


def test_several_invisible_characters_in_one_value_never_leave_a_piece(engine):
    text = "SSN 523\u200b-71-\u200b4418 and mail lena\u2060.vik@example.net"
    redacted = deidentify(text, engine.analyze(text))
    assert redacted == "SSN <US_SSN> and mail <EMAIL_ADDRESS>"


@pytest.mark.parametrize("digits", ["0123456789", "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19",
                                    "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669",
                                    "\u06f0\u06f1\u06f2\u06f3\u06f4\u06f5\u06f6\u06f7\u06f8\u06f9",
                                    "\u0966\u0967\u0968\u0969\u096a\u096b\u096c\u096d\u096e\u096f",
                                    "\U0001d7ce\U0001d7cf\U0001d7d0\U0001d7d1\U0001d7d2\U0001d7d3\U0001d7d4"
                                    "\U0001d7d5\U0001d7d6\U0001d7d7"])
def test_confusable_digits_are_read_as_digits(engine, digits):
    ssn = "".join(digits[int(c)] for c in "523-71-4418" if c.isdigit())
    ssn = f"{ssn[:3]}-{ssn[3:5]}-{ssn[5:]}"
    phone = "".join(digits[int(c)] if c.isdigit() else c for c in "+44 20 7946 0018")
    text = f"SSN {ssn}, call {phone}."
    got = {d.type: text[d.start:d.end] for d in engine.analyze(text)}
    assert got.get("US_SSN") == ssn and got.get("PHONE_NUMBER") == phone


@pytest.mark.parametrize("at", ["\uff20", "\ufe6b"])
def test_look_alike_at_signs_make_an_email(engine, at):
    text = f"Mail jane.roe{at}example.com please"
    assert [(d.type, text[d.start:d.end]) for d in engine.analyze(text)] == [
        ("EMAIL_ADDRESS", f"jane.roe{at}example.com")]


def test_offset_map_is_identity_without_removed_characters():
    text = "Plain \u2013 text with \uff11 and \u00a0 spaces"
    copy, index = normalize_with_map(text)
    assert index is None and len(copy) == len(text)


def test_offset_map_points_every_kept_character_to_its_original():
    text = "a\u200bb\u0301c\u2060"
    copy, index = normalize_with_map(text)
    assert copy == "abc" and index == ([0, 2, 4], [1, 3, 5])
    assert to_original(text, index, 1, 2) == (2, 4)  # b and its combining accent
    assert to_original(text, index, 0, 3) == (0, 5)
