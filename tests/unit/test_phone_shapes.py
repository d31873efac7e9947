"""Telephone numbers in the shapes address books and form fields produce (``recognizers.phone``),
attacked with generated numbers: valid national numbers of many regions (Faker's, kept only where
phonenumbers says they are valid), rewritten as ``(0AA)/BBB-CCCC``, ``(0AAA)BBBBBBB`` (a trunk prefix
in parentheses, glued), ``+(CC) NSN``, and as a labelled list ``N1-Office,N2-Fax``, after messaging
cues (``stop receiving messages to``, ``not answering at``); and numbers that are not telephones in
the same punctuation (dates with slashes, paths, fractions, comma-separated ids and amounts) stay
unflagged.
"""

from __future__ import annotations

import random

import phonenumbers
import pytest
from faker import Faker

from tests.unit.test_phone_documents import _phones_at
from tests.unit.test_typing_shapes import engine  # noqa: F401 - the module's engine fixture

LOCALES = {"en_GB": "GB", "de_DE": "DE", "fr_FR": "FR", "it_IT": "IT", "es_ES": "ES", "nl_NL": "NL",
           "pl_PL": "PL", "sv_SE": "SE", "pt_PT": "PT", "cs_CZ": "CZ", "fi_FI": "FI", "da_DK": "DK",
           "lv_LV": "LV", "en_US": "US"}
FRAMES = ["I would like to stop receiving messages to {value}", "They're not answering at {value}",
          "Please stop texting {value}", "Call me at {value}", "Phone: {value}", "{value} (mobile)"]


def _numbers(seed: int, n: int) -> list[phonenumbers.PhoneNumber]:
    rng = random.Random(seed)
    fakers = {loc: Faker(loc) for loc in LOCALES}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(seed * 100 + i)
    out: list[phonenumbers.PhoneNumber] = []
    while len(out) < n:
        loc = rng.choice(list(LOCALES))
        try:
            num = phonenumbers.parse(fakers[loc].phone_number(), LOCALES[loc])
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num):
            out.append(num)
    return out


def _shape(num: phonenumbers.PhoneNumber, rng: random.Random) -> str:
    nsn = phonenumbers.national_significant_number(num)
    area = phonenumbers.length_of_geographical_area_code(num) or 3
    trunk = "" if num.country_code in (39, 1) else "0"  # Italy and NANP keep no trunk prefix
    head, rest = nsn[:area], nsn[area:]
    return rng.choice([
        f"({trunk}{head})/{rest[:3]}-{rest[3:]}" if len(rest) > 4 else f"({trunk}{head})/{rest}",
        f"({trunk}{head}){rest}",
        f"+({num.country_code}) {nsn}",
    ])


@pytest.mark.parametrize("seed", [3, 33])
def test_slashed_glued_and_bracketed_shapes_after_any_cue_are_found(engine, seed):
    rng = random.Random(seed)
    cases = []
    for num in _numbers(seed, 200):
        value = _shape(num, rng)
        cases.append((rng.choice(FRAMES).format(value=value), value))
    found = engine.analyze_batch([t for t, _ in cases])
    missed = [(t, v) for (t, v), f in zip(cases, found) if not _phones_at(f, t, v)]
    print(f"\nphone shapes found, seed {seed}: {1 - len(missed) / len(cases):.3f}; missed e.g. {missed[:3]}")
    assert len(missed) <= 0.05 * len(cases)


@pytest.mark.parametrize("seed", [4, 44])
def test_every_number_of_a_labelled_list_is_found(engine, seed):
    rng = random.Random(seed)
    nums = _numbers(seed, 240)
    cases = []
    for a, b in zip(nums[::2], nums[1::2]):
        fmt = rng.choice([phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL])
        first, second = (phonenumbers.format_number(n, fmt) for n in (a, b))
        if rng.random() < 0.5:
            first, second = (phonenumbers.national_significant_number(n) for n in (a, b))
            first, second = "0" + first, "0" + second
        label_a, label_b = rng.sample(["Office", "Fax", "Mobile", "Home", "Work"], 2)
        cases.append((f"Name Surname\n\n1 Main Street\n{first}-{label_a},{second}-{label_b}", first, second))
    found = engine.analyze_batch([c[0] for c in cases])
    missed = sum(not _phones_at(f, t, v) for (t, *values), f in zip(cases, found) for v in values)
    print(f"\nlisted numbers missed, seed {seed}: {missed} of {2 * len(cases)}")
    assert missed <= 0.05 * 2 * len(cases)


def test_slashes_commas_and_brackets_that_are_not_telephones_stay_unflagged(engine):
    rng = random.Random(9)
    texts = []
    for _ in range(150):
        a, b, c = rng.randint(1, 28), rng.randint(1, 12), rng.randint(1990, 2030)
        ids = ",".join(str(rng.randint(10**6, 10**7)) for _ in range(3))
        texts += [f"Delivered on {a:02d}/{b:02d}/{c}, invoice attached.", f"Opened {c}/{b:02d}/{a:02d} 14:{a:02d}",
                  f"GET /api/v2/items/{rng.randint(10**6, 10**8)}/history HTTP/1.1",
                  f"Only {a}/{b + 30} of the {rng.randint(1000, 9999)} rows ({a})/({b}) matched.",
                  f"ids: {ids}", f"The total was {rng.randint(1, 999)},{rng.randint(100, 999)},{rng.randint(100, 999)} units"]
    found = engine.analyze_batch(texts)
    flagged = [t for t, f in zip(texts, found) if any(d.type == "PHONE_NUMBER" for d in f)]
    print(f"\nnot telephones flagged: {len(flagged)} of {len(texts)}; e.g. {flagged[:3]}")
    assert flagged == []
