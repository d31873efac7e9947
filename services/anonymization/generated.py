"""A labelled English evaluation set generated with Faker, so quality can be measured from the
repository alone (``make eval``; the optional outside data sets are reported beside it when present).

Records have the shape ``evaluate.score_synthetic`` reads: ``full_text`` and ``spans`` of ``entity_type``,
``entity_value``, ``start_position``, ``end_position``. Kinds: plain sentences and chat messages with
names, e-mails, phones, cards, IBANs, SSNs and IP addresses; the same values hidden with invisible
characters or look-alike digits; contacts written out (``at``/``dot``, digits in words, ``%40``); JSON
records. Values come from Faker (en_US, en_GB, en_IE locales), sentence frames are written here and
are not the frames the detector's tests use. Deterministic for a seed.
"""

from __future__ import annotations

import json
import random

from faker import Faker

_WORDS = "zero one two three four five six seven eight nine".split()
_INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"]


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[dict] = []
        self.pos = 0

    def text(self, s: str) -> "_Builder":
        self.parts.append(s)
        self.pos += len(s)
        return self

    def entity(self, etype: str, value: str) -> "_Builder":
        self.spans.append({"entity_type": etype, "entity_value": value, "start_position": self.pos,
                           "end_position": self.pos + len(value)})
        return self.text(value)

    def record(self, kind: str) -> dict:
        return {"kind": kind, "full_text": "".join(self.parts), "spans": self.spans}


def _card(fake: Faker) -> str:
    return fake.credit_card_number(card_type=fake.random_element(["visa16", "mastercard", "amex", "discover"]))


def _ssn(rng: random.Random) -> str:
    return f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"


def _hide(value: str, rng: random.Random) -> str:
    at = rng.randint(1, len(value) - 1)
    return value[:at] + rng.choice(_INVISIBLE) + value[at:]


def _plain(fake: Faker, rng: random.Random) -> dict:
    b = _Builder()
    name = fake.name()
    choice = rng.randrange(7)
    b.text(rng.choice(["Hi, this is ", "Hello, I'm ", "My name is ", "Please update the account of "])).entity("PERSON", name)
    if choice == 0:
        b.text(". You can email me at ").entity("EMAIL_ADDRESS", fake.email()).text(" any time.")
    elif choice == 1:
        b.text(" and my number is ").entity("PHONE_NUMBER", fake.phone_number()).text(", call after 5pm.")
    elif choice == 2:
        b.text(". The card ending the dispute is ").entity("CREDIT_CARD", _card(fake)).text(".")
    elif choice == 3:
        b.text(". Wire the refund to ").entity("IBAN_CODE", fake.iban()).text(" please.")
    elif choice == 4:
        b.text(", SSN ").entity("US_SSN", _ssn(rng)).text(", asking about my tax form.")
    elif choice == 5:
        b.text(". I keep getting locked out from ").entity("IP_ADDRESS", fake.ipv4_public()).text(" at home.")
    else:
        b.text(" and my colleague ").entity("PERSON", fake.name()).text(" will join the call.")
    return b.record("plain")


def _hidden(fake: Faker, rng: random.Random) -> dict:
    b = _Builder()
    choice = rng.randrange(4)
    if choice == 0:
        b.text("my ssn is ").entity("US_SSN", _hide(_ssn(rng), rng))
    elif choice == 1:
        b.text("write to ").entity("EMAIL_ADDRESS", _hide(fake.email(), rng)).text(" tomorrow")
    elif choice == 2:
        b.text("call ").entity("PHONE_NUMBER", _hide(fake.numerify("+44 20 7946 ####"), rng))
    else:
        fullwidth = "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in _ssn(rng))
        b.text("SSN: ").entity("US_SSN", fullwidth)
    return b.record("hidden")


def _written_out(fake: Faker, rng: random.Random) -> dict:
    b = _Builder()
    first, last = fake.first_name().lower(), fake.last_name().lower()
    choice = rng.randrange(3)
    if choice == 0:
        dom = rng.choice(["gmail", "yahoo", "outlook", "proton"])
        value = rng.choice([f"{first} dot {last} at {dom} dot com", f"{first}.{last} [at] {dom} [dot] com",
                            f"{first}{last} (at) {dom} (dot) com"])
        b.text("reach me: ").entity("EMAIL_ADDRESS", value)
    elif choice == 1:
        digits = fake.numerify("2##55501##")
        b.text("my cell is ").entity("PHONE_NUMBER", " ".join(_WORDS[int(d)] for d in digits))
    else:
        b.text("unsubscribe link: https://news.example.com/u?e=").entity(
            "EMAIL_ADDRESS", f"{first}.{last}%40{fake.free_email_domain()}").text("&t=1")
    return b.record("written_out")


def _json(fake: Faker, rng: random.Random) -> dict:
    b = _Builder()
    b.text('{"id": %d, "customer": {"first_name": "' % rng.randint(10**6, 10**9))
    b.entity("PERSON", fake.first_name()).text('", "last_name": "').entity("PERSON", fake.last_name())
    b.text('", "email": "').entity("EMAIL_ADDRESS", fake.email()).text('", "phone": "')
    b.entity("PHONE_NUMBER", fake.phone_number()).text('"}, "created_at": %d}' % rng.randint(1_500_000_000_000, 1_800_000_000_000))
    json.loads("".join(b.parts))  # well-formed by construction
    return b.record("json")


_KINDS = ((_plain, 5), (_hidden, 2), (_written_out, 2), (_json, 1))


def generated_set(n: int = 300, seed: int = 2026) -> list[dict]:
    """``n`` labelled records (see the module docstring); the same for the same seed."""
    rng = random.Random(seed)
    fakes = [Faker(loc) for loc in ("en_US", "en_GB", "en_IE")]
    for i, f in enumerate(fakes):
        f.seed_instance(seed + i)
    kinds = [k for k, w in _KINDS for _ in range(w)]
    return [rng.choice(kinds)(rng.choice(fakes), rng) for _ in range(n)]
