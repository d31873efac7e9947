"""Full names on a contact line (``<name> <phone>``, ``Call <name> on <phone>``, ``Contact <name> at
<e-mail>``) and names the model ran a word into (``CTO <name>``, ``Call <name>``) are PERSON, whatever
the model typed them; places and services before a phone number are not made people. Values are
generated (Faker names, phones and e-mails, many locales) in frames written for this test."""

from __future__ import annotations

import random

import pytest
from faker import Faker

from services.anonymization import heuristics
from services.anonymization.heuristics.contact_names import contact_names
from tests.unit.test_typing_shapes import _render, engine  # noqa: F401 - the module's engine fixture

LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pl_PL", "fi_FI", "hu_HU", "cs_CZ",
           "tr_TR", "ro_RO", "hr_HR", "sv_SE", "no_NO", "da_DK"]
PERSON_FRAMES = [
    "{name} {phone}",
    "{name}, {phone}",
    "{name}: {email}",
    "Call {name} on {phone} or write to {email}.",
    "Contact {name} at {email} for the keys.",
    "Our new CTO {name} joined last month.",
    "Ask {name} about the refund.",
]
PLACE_FRAMES = [
    "{city} office: {phone}",
    "Customer Service {phone}",
    "Front Desk, {phone}",
    "{city} {phone}",
]


def _cases(frames, seed, n, slot_values):
    rng = random.Random(seed)
    fakers = [Faker(loc) for loc in LOCALES]
    for i, f in enumerate(fakers):
        f.seed_instance(seed * 100 + i)
    en = Faker("en_US")
    en.seed_instance(seed)
    return [_render(rng.choice(frames), slot_values(rng.choice(fakers), en)) for _ in range(n)]


def _share(engine, cases, slot, wrong):  # noqa: F811 - the fixture
    found = engine.analyze_batch([t for t, _ in cases])
    bad = 0
    for (_, spans), dets in zip(cases, found):
        s, e = spans[slot][0]
        bad += wrong({d.type for d in dets if d.start < e and s < d.end})
    return bad / len(cases)


def _without(measure):
    with pytest.MonkeyPatch.context() as patch:
        patch.delitem(heuristics.HEURISTICS, "contact_names")
        return measure()


@pytest.mark.parametrize("seed", [41, 4141])
def test_names_on_contact_lines_are_people(engine, seed):  # noqa: F811 - the fixture
    cases = _cases(PERSON_FRAMES, seed, 200, lambda f, en: {
        "name": f"{f.first_name()} {f.last_name()}", "phone": en.phone_number(), "email": en.email()})

    def measure():
        return _share(engine, cases, "name", lambda types: "PERSON" not in types)

    after, before = measure(), _without(measure)
    print(f"\nnames on contact lines not PERSON, seed {seed}: {before:.3f} without -> {after:.3f} with")
    assert after <= 0.6 * before
    assert after <= 0.12


def test_places_and_services_before_a_phone_are_not_made_people(engine):  # noqa: F811 - the fixture
    cases = _cases(PLACE_FRAMES, 43, 120, lambda f, en: {"city": f.city(), "phone": en.phone_number()})
    assert _share(engine, cases, "phone", lambda types: "PHONE_NUMBER" not in types) <= 0.1
    made = sum(any(d.type == "PERSON" for d in found) for found in engine.analyze_batch([t for t, _ in cases]))
    before = _without(lambda: sum(any(d.type == "PERSON" for d in found)
                                  for found in engine.analyze_batch([t for t, _ in cases])))
    assert made <= before + 2, (before, made)


def test_the_heuristic_leaves_validated_entities_and_shape_spans_alone():
    fake = Faker("de_DE")
    fake.seed_instance(44)
    for _ in range(30):
        name = f"{fake.first_name()} {fake.last_name()}"
        text = f"{name} 030 1234567"
        hard = [["PHONE_NUMBER", len(name) + 1, len(text), 0.9]]
        # a shape rule's span (a company by its legal form) is never re-typed
        assert contact_names(text, hard, [["ORGANIZATION", 0, len(name), 0.87]])[0][0] == "ORGANIZATION"
        # a validated entity over the name wins: nothing is added
        assert contact_names(text, hard + [["EMAIL_ADDRESS", 0, 3, 1.0]], []) == []
