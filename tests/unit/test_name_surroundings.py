"""Names the model types as companies or places, re-typed by their shape and surroundings
(``heuristics.lexicon_names``, ``heuristics.person_surroundings``), attacked with generated values
(Faker, many locales, fixed seeds) in frames written for this test:

- full names from many locales are PERSON more often with the heuristics than without them (a ratio
  measured in the same test), and companies made of English words or with a legal form never are;
- people after person cues and predicates (``regards to``, ``will call you back``, ``Is <X> available``)
  and at the head of a postal block are PERSON; places in place frames (``Is <city> so expensive?``)
  and firms heading a block are not made PERSON by them.
"""

from __future__ import annotations

import random

import pytest
from faker import Faker

from services.anonymization import heuristics
from tests.unit.test_typing_shapes import _render, engine  # noqa: F401 - the module's engine fixture

LOCALES = ["en_US", "de_DE", "fr_FR", "es_ES", "it_IT", "pl_PL", "cs_CZ", "fi_FI", "da_DK", "sv_SE", "hr_HR",
           "hu_HU", "nl_NL", "pt_BR", "tr_TR", "sk_SK", "sl_SI", "ro_RO", "et_EE", "lv_LV", "lt_LT"]
_OURS = ("org_names_to_persons", "persons_by_surroundings")
# Frames per side: people the heuristics must type PERSON, places and firms they must leave alone.
FRAMES = {
    "people": (
        "According to {full}, the shipment is late.",
        "Send my regards to {first}.",
        "Send my regards to {full}.",
        "{first} will call you back tomorrow.",
        "{full} will call you back tomorrow.",
        "Is {full} available on Monday?",
        "Why is {first} always so stubborn?",
        "Our new manager, {first}, starts next week.",
        "The patient, {full}, was admitted on Sunday.",
        "Please change the name on the account to {first}",
        "{full}\n{street}",
        "The board thanked {full} for the report.",
        "{full}\n{company}\n{street}",
        "Best regards,\n{first}\n{company}\nMobile: 555 0134",
    ),
    "not_people": (
        "Is {city} so expensive?",
        "Why is {city} always so crowded?",
        "We renewed the contract with {english_co} yesterday.",
        "{english_co} will call you back about the invoice.",
        "Send the samples to {english_co}.",
        "{company}\n{street}",
        "The contract was signed on behalf of {company}.",
        "Company: {company}\nContact: the front desk",
        "{english_co}\nAccounts department\n{street}",
    ),
}


def _cases(frames: tuple[str, ...], seed: int, n: int, values) -> list[tuple[str, dict]]:
    """``n`` texts from ``frames`` filled by ``values(fake, rng)``, with their slots' spans."""
    rng = random.Random(seed)
    fakers = seeded_fakers(seed)
    return [_render(rng.choice(frames), values(rng.choice(fakers), rng)) for _ in range(n)]


def seeded_fakers(seed: int) -> list[Faker]:
    """One Faker per locale of ``LOCALES``, each seeded from ``seed``."""
    fakers = [Faker(loc) for loc in LOCALES]
    for i, f in enumerate(fakers):
        f.seed_instance(seed * 100 + i)
    return fakers


def _values(fake: Faker, rng: random.Random) -> dict[str, str]:
    first = fake.first_name()
    return {"full": f"{first} {fake.last_name()}", "first": first, "city": fake.city(),
            "street": fake.street_address(), "company": fake.company(),
                    "english_co": f"{fake.last_name()} {rng.choice(_ENGLISH_WORDS)}"}


# Words the lexicon holds as written. Plurals (``Petrov Motors``) are a known gap of the full-name rule
# with no cue around it: it leaves stems out, since a surname in -s may stem to a lexicon noun; and
# WordNet's nouns already hold ``roberts``, ``williams``, ``evans``, so that rule serves foreign names.
_ENGLISH_WORDS = ["Software", "Unlimited", "Logistics", "Bakery", "Furniture", "Insurance", "Transport",
                  "Hardware", "Security", "Electric"]


def _share(engine, cases, slot: str, wanted) -> float:
    found = engine.analyze_batch([t for t, _ in cases])
    hits = total = 0
    for (_, spans), dets in zip(cases, found):
        for s, e in spans.get(slot, []):
            total += 1
            hits += bool(wanted({d.type for d in dets if d.start < e and s < d.end}))
    return hits / total


def _without_ours(measure):
    saved = dict(heuristics.HEURISTICS)
    for name in _OURS:
        heuristics.HEURISTICS.pop(name)
    try:
        return measure()
    finally:
        heuristics.HEURISTICS.clear()
        heuristics.HEURISTICS.update(saved)


def _person(types: set) -> bool:
    return "PERSON" in types


@pytest.mark.parametrize("seed", [3, 303])
def test_people_by_shape_and_surroundings_are_people(engine, seed):
    cases = _cases(FRAMES["people"], seed, 360, _values)

    def measure():
        return sum(_share(engine, cases, slot, _person) for slot in ("full", "first")) / 2

    after = measure()
    before = _without_ours(measure)
    print(f"\npeople by shape and surroundings, seed {seed}: {before:.3f} without -> {after:.3f} with")
    assert after >= before + 0.05
    assert after >= 0.85




@pytest.mark.parametrize("seed", [9, 909])
def test_places_and_companies_are_not_made_people(engine, seed):
    cases = _cases(FRAMES["not_people"], seed, 320, _values)
    texts = [t for t, _ in cases]
    before = _without_ours(lambda: engine.analyze_batch(texts))
    after = engine.analyze_batch(texts)
    def made_person(b, a, s, e) -> bool:
        return (not any(d.type == "PERSON" and d.start < e and s < d.end for d in b)
                and any(d.type == "PERSON" and d.start < e and s < d.end for d in a))

    made, total, flagged = [], 0, 0
    for (text, spans), b, a in zip(cases, before, after):
        for slot in ("city", "english_co", "company"):
            for s, e in spans.get(slot, []):
                total += 1
                if made_person(b, a, s, e):
                    flagged += 1
                    # Checked again alone: the heuristics act per text, so their effect reproduces;
                    # a flip of the statistical NER between two batch runs (CI saw one in 640 once,
                    # not reproducible) does not.
                    alone_b = _without_ours(lambda: engine.analyze_batch([text]))[0]
                    if made_person(alone_b, engine.analyze_batch([text])[0], s, e):
                        made.append((text, slot))
    print(f"\nplaces/companies made PERSON by the heuristics, seed {seed}: {len(made)} of {total} "
          f"({flagged} flagged in the batch run)")
    assert made == []


def test_a_company_by_its_words_or_what_follows_stays_a_company(engine):
    from services.anonymization.heuristics.lexicon_names import org_names_to_persons

    engine.analyze("Warm-up for Ana Lind.")  # loads the lexicon the heuristic reads
    for text, span, expect in [("Reviewed by Zoltán Balogh.", "Zoltán Balogh", "PERSON"),
                               ("Ask Scale Unlimited.", "Scale Unlimited", "ORGANIZATION"),
                               ("Ask Petrov Furniture.", "Petrov Furniture", "ORGANIZATION"),
                               ("Ask Eemeli Jokinen.", "Eemeli Jokinen", "PERSON"),
                               ("Ask Kragh Bakken BA.", "Kragh Bakken", "ORGANIZATION"),
                               ("Kragh Bakken's report", "Kragh Bakken", "ORGANIZATION"),
                               ("Hania Bazid, 43 73313", "Hania Bazid", "ORGANIZATION"),
                               ("Ask Jensen & Lund now", "Jensen", "ORGANIZATION")]:
        s = text.index(span)
        soft = org_names_to_persons(text, [], [["ORGANIZATION", s, s + len(span), 0.6]])
        assert soft[0][0] == expect, text


@pytest.mark.parametrize("seed", [13, 1313])
def test_a_firm_after_on_behalf_of_or_a_company_label_is_no_person_and_the_signer_is(engine, seed):
    rng = random.Random(seed)
    fakers = [Faker(loc) for loc in ("en_US", "en_GB", "de_DE", "fi_FI", "lt_LT", "it_IT", "da_DK")]
    for i, f in enumerate(fakers):
        f.seed_instance(seed + i)

    def values(fake, _rng):
        firm = rng.choice([f"{fake.last_name()}, {fake.last_name()} and {fake.last_name()}", fake.last_name(),
                           fake.company()])
        return {**_values(fake, _rng), "firm": firm}

    frames = ["The lease was signed by {full} on behalf of {firm}.", "Customer: {full}\nCompany: {firm}",
              "Employer: {firm}\nEmployee: {full}"]
    cases = _cases(frames, seed, 240, values)
    firm_as_person = _share(engine, cases, "firm", _person)
    signer = _share(engine, cases, "full", _person)
    print(f"\nfirms typed PERSON, seed {seed}: {firm_as_person:.3f}; signers PERSON: {signer:.3f}")
    assert firm_as_person <= 0.05
    assert signer >= 0.9


@pytest.mark.parametrize("seed", [19, 1919])
def test_the_company_line_of_a_contact_block_is_no_person(engine, seed):
    cases = _cases(("{full}\n{company}\n{street}", "Thanks,\n{full}\n{company}\n{street}\n{city}"), seed, 200,
                   _values)

    def measure():
        return _share(engine, cases, "company", _person)

    after = measure()
    before = _without_ours(measure)
    print(f"\ncontact-block companies typed PERSON, seed {seed}: {before:.3f} without -> {after:.3f} with")
    assert after <= 0.5 * before
    assert _share(engine, cases, "full", _person) >= 0.95


def test_a_name_owned_by_a_firm_is_cut_from_it_and_an_owned_thing_stays(engine):
    from services.anonymization.heuristics.person_surroundings import persons_by_surroundings

    engine.analyze("Warm-up for Ana Lind.")  # loads the lexicon the heuristic reads
    text = "including Bridgewater's Parker Suknović and Lunde-Jørgensen's Hege Pedersen, then Acme's Big Sale."
    spans = [("LOCATION", "Parker Suknović"), ("ORGANIZATION", "Lunde-Jørgensen's Hege Pedersen"),
             ("ORGANIZATION", "Big Sale")]
    soft = [[t, text.index(v), text.index(v) + len(v), 0.6] for t, v in spans]
    out = sorted((c[0], text[c[1]:c[2]]) for c in persons_by_surroundings(text, [], soft))
    assert out == [("ORGANIZATION", "Big Sale"), ("ORGANIZATION", "Lunde-Jørgensen"),
                   ("PERSON", "Hege Pedersen"), ("PERSON", "Parker Suknović")]


@pytest.mark.parametrize("seed", [29, 2929])
def test_a_first_name_from_any_company_is_the_speaker_and_a_greeting_is_not(engine, seed):
    frames = ("{first} from {company} is the keynote speaker.", "{first} (from {company}) will present the results.",
              "Greetings from {company} will be the host.")
    cases = _cases(frames, seed, 240, _values)
    found = engine.analyze_batch([t for t, _ in cases])
    hit = total = greeted = 0
    for (text, spans), dets in zip(cases, found):
        persons = [(d.start, d.end) for d in dets if d.type == "PERSON"]
        for s, e in spans.get("first", []):
            total += 1
            hit += any(a < e and s < b for a, b in persons)
        greeted += text.startswith("Greetings") and any(a == 0 for a, _ in persons)
    print(f"\nfirst names before 'from <company>', seed {seed}: {hit}/{total} PERSON; greetings as PERSON: {greeted}")
    assert hit >= 0.95 * total
    assert greeted == 0
