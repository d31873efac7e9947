"""Realistic, labelled sample input (docs/design.md §6) generated with Faker; deterministic per seed.

Each line is one interaction of a generated account: natural prompts with names, e-mail addresses,
phone numbers, street addresses, card numbers, IBANs, SSNs and IPs in them, several sessions per
account, and some support tickets with contact details. The true PII spans of each text field are
kept under ``labels`` (``{field: [{type, start, end, value}]}``, code-point offsets) so tests can
check detection. All people and numbers are generated; none is real.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable, Iterator
from typing import Any

from faker import Faker

_SLOT = re.compile(r"\{(\w+)\}")

PROMPTS = [
    ("My name is {name} and I need a polite email to my landlord about the broken heating.",
     "Here is a draft: Dear landlord, I am writing about the heating in my flat..."),
    ("Can you check this shipping address for typos? {address}",
     "The address looks complete; make sure the postcode matches the city."),
    ("Please write a short bio for {name}, a data engineer who loves hiking.",
     "{name} is a data engineer who spends weekends hiking mountain trails."),
    ("My card {card} was declined twice today, what should I ask the bank?",
     "Ask the bank whether a fraud check blocked the payment and when it will clear."),
    ("Reply to {email} and tell them the meeting moved to Thursday.",
     "Sure. Subject: Meeting moved. Hi, the meeting is now on Thursday at the same time."),
    ("Summarise the plot of a classic detective novel in three sentences.",
     "A detective investigates a murder in a country house and exposes the culprit."),
    ("Explain how photosynthesis works to a ten year old.",
     "Plants use sunlight, water and air to make their own food and release oxygen."),
    ("Our server at {ip} keeps timing out, how do I debug the network latency?",
     "Start with ping and traceroute to the host, then check the firewall rules."),
    ("Translate into French: please call me back on {phone} tomorrow.",
     "Veuillez me rappeler demain s'il vous plait."),
    ("I want to pay the invoice by transfer to {iban}, is that a valid IBAN format?",
     "IBANs start with a country code and two check digits; the bank can confirm it."),
    ("My social security number is {ssn}, do I need it for the tax form?",
     "Most tax forms ask for it; never share it in chat. Keep it private."),
    ("Give me five ideas for a vegetarian dinner this weekend.",
     "Try a mushroom risotto, a chickpea curry, stuffed peppers, a lentil stew and pizza."),
    ("What are good practices for password security at work?",
     "Use a password manager, enable multi-factor authentication and never reuse passwords."),
    ("Draft a message to {name} at {phone} confirming the dentist appointment.",
     "Hi {name}, this confirms your dentist appointment. Call us if you need to reschedule."),
    ("How do I improve my resume for a software engineering job?",
     "Lead with impact, quantify results, and keep it to one or two pages."),
    ("Write a haiku about the autumn rain in the city.",
     "Grey rain on the streets / umbrellas bloom like flowers / the city exhales"),
]
TICKETS = [
    "I was charged twice for my subscription this month, please refund one payment.",
    "I cannot log in to my account since the last update.",
    "Please delete the conversation I had yesterday, it had private details.",
]


def _fill(template: str, values: dict[str, tuple[str, str]]) -> tuple[str, list[dict[str, Any]]]:
    """Fill ``{slot}``s; returns the text and the spans of the inserted values."""
    out, spans, pos = [], [], 0
    length = 0
    for m in _SLOT.finditer(template):
        literal = template[pos:m.start()]
        out.append(literal)
        length += len(literal)
        entity, value = values[m.group(1)]
        spans.append({"type": entity, "start": length, "end": length + len(value), "value": value})
        out.append(value)
        length += len(value)
        pos = m.end()
    out.append(template[pos:])
    return "".join(out), spans


def generate(accounts: int = 50, interactions: int | None = None, seed: int = 7,
             start: dt.datetime | None = None) -> Iterator[dict[str, Any]]:
    """Yield ``interactions`` (default 40 per account) labelled interactions for ``accounts`` accounts.

    Raises ValueError when accounts < 1.
    """
    if accounts < 1:
        raise ValueError("accounts must be at least 1")
    total = interactions if interactions is not None else accounts * 40
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    start = start or dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
    people = []
    for _ in range(accounts):
        v6 = rng.random() < 0.3
        people.append({
            "account_id": f"acct-{rng.getrandbits(48):012x}",
            "region": rng.choice(["EU", "EU", "US"]),
            "sessions": [(f"conv-{rng.getrandbits(24):06x}",
                          fake.ipv6() if v6 else fake.ipv4_public(), fake.user_agent())
                         for _ in range(rng.randint(2, 5))],
            "name": fake.name(), "email": fake.email(), "phone": fake.phone_number(),
        })
    gens: dict[str, Callable[[dict[str, Any]], tuple[str, str]]] = {
        "name": lambda p: ("PERSON", p["name"]),
        "email": lambda p: ("EMAIL_ADDRESS", p["email"]),
        "phone": lambda p: ("PHONE_NUMBER", p["phone"]),
        "address": lambda p: ("LOCATION", fake.address().replace("\n", ", ")),
        "card": lambda p: ("CREDIT_CARD", fake.credit_card_number()),
        "ip": lambda p: ("IP_ADDRESS", fake.ipv4_public()),
        "iban": lambda p: ("IBAN_CODE", fake.iban()),
        "ssn": lambda p: ("US_SSN", fake.ssn()),
    }
    for n in range(total):
        person = people[n % accounts]
        hint, ip, agent = rng.choice(person["sessions"])
        when = start + dt.timedelta(seconds=rng.randint(0, 20 * 86400))
        line: dict[str, Any] = {"account_id": person["account_id"], "session_hint": hint,
                                "client_ip": ip, "user_agent": agent, "region": person["region"],
                                "timestamp": when.isoformat().replace("+00:00", "Z")}
        if rng.random() < 0.05:
            contact = f"{person['name']}, {person['email']}, {person['phone']}"
            offsets = [0, len(person["name"]) + 2,
                       len(person["name"]) + 2 + len(person["email"]) + 2]
            kinds = [("PERSON", person["name"]), ("EMAIL_ADDRESS", person["email"]),
                     ("PHONE_NUMBER", person["phone"])]
            line.update(kind="support_ticket", prompt=rng.choice(TICKETS), response="",
                        contact=contact, labels={"prompt": [], "response": [], "contact": [
                            {"type": t, "start": o, "end": o + len(v), "value": v}
                            for (t, v), o in zip(kinds, offsets, strict=True)]})
        else:
            prompt_t, response_t = rng.choice(PROMPTS)
            values = {slot: gens[slot](person) for slot in set(_SLOT.findall(prompt_t + response_t))}
            prompt, p_spans = _fill(prompt_t, values)
            response, r_spans = _fill(response_t, values)
            line.update(kind="interaction", prompt=prompt, response=response,
                        labels={"prompt": p_spans, "response": r_spans})
        yield line
