"""Contact details written to dodge filters: spelled-out e-mail addresses (``dot``/``at``, bracketed
or not), phone digits in words, percent-encoded ``@`` in URLs and text, and credentials in URIs. Values
are generated with Faker (seeded); each kind must be redacted whole, with the right type."""

from __future__ import annotations

import random

import pytest
from faker import Faker

from services.anonymization.engine import DetectionEngine, deidentify

WORDS = "zero one two three four five six seven eight nine".split()


@pytest.fixture(scope="module")
def engine() -> DetectionEngine:
    eng = DetectionEngine(workers=1)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def fake() -> Faker:
    f = Faker("en_US")
    f.seed_instance(12)
    return f


def _people(fake: Faker, n: int) -> list[tuple[str, str, str]]:
    out = []
    for _ in range(n):
        first, last = fake.first_name().lower(), fake.last_name().lower()
        out.append((first, last, fake.free_email_domain()))
    return out


def _spelled_emails(fake: Faker) -> list[tuple[str, str]]:
    """(text, the written-out address)."""
    rng = random.Random(5)
    cases = []
    for first, last, domain in _people(fake, 40):
        name, tld = domain.rsplit(".", 1)
        forms = [
            f"{first} dot {last} at {name} dot {tld}",
            f"{first}.{last} [at] {name} [dot] {tld}",
            f"{first}{last} (at) {name} (dot) {tld}",
            f"{first} [dot] {last} [at] {name} [dot] {tld}",
            f"{first}.{last} at {name}.{tld}" if name in ("gmail", "yahoo", "hotmail") else
            f"{first}_{last} {{at}} {name} {{dot}} {tld}",
        ]
        value = rng.choice(forms)
        cases.append((rng.choice(["Write to {} if needed.", "my email is {}", "Contact: {}\nThanks",
                                  "reach me at {} please"]).format(value), value))
    return cases


def _assert_redacted_whole(engine, cases, etype) -> None:
    failures = []
    for (text, value), dets in zip(cases, engine.analyze_batch([t for t, _ in cases])):
        start = text.index(value)
        ok = any(d.type == etype and d.start <= start and d.end >= start + len(value) for d in dets)
        if not ok:
            failures.append((text, [(d.type, text[d.start:d.end]) for d in dets]))
    assert not failures, f"{len(failures)}/{len(cases)}: {failures[:4]}"


def test_spelled_out_email_addresses_are_redacted_whole(engine, fake):
    _assert_redacted_whole(engine, _spelled_emails(fake), "EMAIL_ADDRESS")


@pytest.mark.parametrize("text", [
    "Look at example dot com for the docs.", "We met at noon. Then at home dot com was down.",
    "I arrived at 5 dot 30", "the dot at the end of a sentence", "Great at python dot js dot anything",
])
def test_prose_with_at_and_dot_is_no_address(engine, text):
    assert not [d for d in engine.analyze(text) if d.type == "EMAIL_ADDRESS"]


def _in_words(digits: str, rng: random.Random) -> str:
    words, i = [], 0
    while i < len(digits):
        if i + 1 < len(digits) and digits[i] == digits[i + 1] and rng.random() < 0.5:
            words.append("double " + WORDS[int(digits[i])])
            i += 2
            continue
        words.append(rng.choice(["oh", "zero"]) if digits[i] == "0" else WORDS[int(digits[i])])
        i += 1
    sep = rng.choice([" ", " ", ", ", "-"])
    return sep.join(words)


def test_phone_numbers_in_words_are_redacted_whole(engine, fake):
    rng = random.Random(9)
    cases = []
    for _ in range(40):
        digits = "".join(c for c in fake.basic_phone_number() if c.isdigit())[-10:]
        value = _in_words(digits, rng)
        cases.append((rng.choice(["call me on {} tonight", "my cell is {}", "Phone: {}", "text me at {} ok"])
                      .format(value), value))
    _assert_redacted_whole(engine, cases, "PHONE_NUMBER")


def test_counting_in_words_is_no_phone(engine):
    for text in ("one two three four five six seven eight nine ten", "She scored nine, eight, seven, "
                 "nine, eight, nine and nine", "Step one two three four five six seven"):
        assert not [d for d in engine.analyze(text) if d.type == "PHONE_NUMBER"], text


def test_percent_encoded_emails_are_redacted(engine, fake):
    failures = []
    for first, last, domain in _people(fake, 30):
        encoded = f"{first}.{last}%40{domain}"
        for text in (f"my email is {encoded} thanks", f"GET https://shop.example/unsubscribe?email={encoded}&x=1",
                     f"see example.org/u?to={encoded}"):
            redacted = deidentify(text, engine.analyze(text))
            if first in redacted or last in redacted or domain in redacted:
                failures.append(redacted)
        text = f"my email is {encoded} thanks"
        if [(d.type, text[d.start:d.end]) for d in engine.analyze(text)] != [("EMAIL_ADDRESS", encoded)]:
            failures.append(text)
    assert not failures, failures[:4]


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "mysql", "mongodb+srv", "redis", "amqp", "https", "ftp"])
def test_credentials_in_uris_are_redacted_whole(engine, fake, scheme):
    for _ in range(10):
        user = fake.user_name()
        password = fake.password(length=14, special_chars=True).replace("/", "!").replace('"', "%")
        host = fake.random_element(["db.internal", fake.domain_name(), fake.ipv4_private()])
        text = f"DATABASE_URL={scheme}://{user}:{password}@{host}:5432/app"
        dets = engine.analyze(text)
        start = text.index(user, len(scheme))
        assert any(d.type == "SECRET" and d.start <= start and d.end >= start + len(user) + 1 + len(password)
                   for d in dets), (text, [(d.type, text[d.start:d.end]) for d in dets])
        redacted = deidentify(text, dets)
        assert password not in redacted and f"{user}:" not in redacted
