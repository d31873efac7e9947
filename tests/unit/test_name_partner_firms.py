"""Firms named after their partners (``Smith, Ibarra and Parks``, ``Mason-Garcia``: Faker's company
formats) are typed ORGANIZATION wherever they stand, never three or two people; lists of people by their
first names (several locales) and double surnames after a first name stay PERSON. Values are generated
(Faker, en_US and en_GB surnames for the firms, many locales for the people) in sentence frames written
for this test."""

from __future__ import annotations

import random

from faker import Faker

from services.anonymization.heuristics.partner_firms import partner_firms
from tests.unit.test_typing_shapes import _render, engine  # noqa: F401 - the module's engine fixture

FIRM_FRAMES = [
    "The report was published by {firm} in {city}.",
    "{firm} signed the merger last week.",
    "I think {first} is right about {firm}.",
    "Send the invoice to {firm}, attention {name}.",
    "Our new CTO joined from {firm} last month.",
]
PEOPLE_FRAMES = [
    "{a}, {b} and {c} are coming to the party.",
    "Please invite {a}, {b} and {c} to the call.",
    "The tickets for {a}, {b} and {c} are ready.",
]
PEOPLE_LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pl_PL", "nl_NL"]


def _firm(fake: Faker, rng: random.Random) -> str:
    if rng.random() < 0.7:
        return f"{fake.last_name()}, {fake.last_name()} and {fake.last_name()}"
    return f"{fake.last_name()}-{fake.last_name()}"


def _overlapping(found, span):
    return [d for d in found if d.start < span[1] and span[0] < d.end]


def test_partner_firms_are_organizations_not_people(engine):  # noqa: F811 - the fixture
    rng = random.Random(12)
    fakers = {loc: Faker(loc) for loc in ("en_US", "en_GB")}
    for i, f in enumerate(fakers.values()):
        f.seed_instance(1200 + i)
    wrong = total = 0
    for _ in range(120):
        fake = fakers[rng.choice(list(fakers))]
        values = {"firm": _firm(fake, rng), "city": fake.city(), "first": fake.first_name(),
                  "name": fake.name()}
        text, spans = _render(rng.choice(FIRM_FRAMES), values)
        found = engine.analyze(text)
        for span in spans["firm"]:
            total += 1
            wrong += any(d.type == "PERSON" for d in _overlapping(found, span))
    assert total == 120
    assert wrong / total <= 0.15, f"{wrong} of {total} firms typed PERSON"


def test_people_listed_by_first_name_stay_people(engine):  # noqa: F811 - the fixture
    rng = random.Random(13)
    fakers = [Faker(loc) for loc in PEOPLE_LOCALES]
    for i, f in enumerate(fakers):
        f.seed_instance(1300 + i)
    as_firm = 0
    for _ in range(80):
        fake = rng.choice(fakers)
        values = {k: fake.first_name() for k in "abc"}
        text, spans = _render(rng.choice(PEOPLE_FRAMES), values)
        found = engine.analyze(text)
        as_firm += any(d.type == "ORGANIZATION" and d.start <= spans["a"][0][0] and d.end >= spans["c"][0][1]
                       for d in found)
    assert as_firm <= 2, f"{as_firm} of 80 lists of first names typed as one firm"


def test_the_heuristic_by_itself_keeps_people_and_titles():
    fake = Faker("en_US")
    fake.seed_instance(14)
    for _ in range(50):
        a, b, c = fake.last_name(), fake.last_name(), fake.last_name()
        for text, firm in ((f"Ask Dr. {a}, {b} and {c} about it.", False),
                           (f"Ask {fake.first_name()} {a}-{b} about it.", False),
                           (f"It came from {a}, {b} and {c} today.", None)):
            s = text.index(a)
            soft = [["PERSON", s, s + len(a), 0.8]]
            out = partner_firms(text, [], soft)
            if firm is False:
                assert not any(x[0] == "ORGANIZATION" for x in out), text
    # a pattern-validated entity inside wins: nothing is retyped
    text = "Smith, Jones and Brown"
    assert partner_firms(text, [["EMAIL_ADDRESS", 0, 5, 1.0]], []) == []
    assert partner_firms(text, [], [])[0][:3] == ["ORGANIZATION", 0, len(text)]


def test_firm_pattern_stays_linear():
    """The pattern's time on 100 KB of shapes made to stall it vs 10 KB stays within 4x of a plain
    scan's ratio (at least 10), as ``test_name_typing`` measures the cue patterns."""
    from tests.fuzz.adversarial import best_time

    floor = 2e-4
    for unit in ["Aa, ", "Aa-Aa, ", "Aa, Aa and ", "Aa-", "Mr. Aa, Aa and Aa ", "friends Aa, "]:
        small, large = unit * (10_000 // len(unit)), unit * (100_000 // len(unit))
        ratio = baseline = float("inf")
        for _attempt in range(3):
            t10, t100 = (best_time(lambda t: partner_firms(t, [], []), x) for x in (small, large))
            b10, b100 = (best_time(lambda t: t.lower().count("a"), x, 5) for x in (small, large))
            ratio = min(ratio, (t100 + floor) / (t10 + floor))
            baseline = min(baseline, b100 / b10)
            if ratio <= 4 * max(baseline, 10):
                break
        assert ratio <= 4 * max(baseline, 10), (unit, ratio)
