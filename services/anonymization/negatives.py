"""A generated negative set: texts that hold numbers and identifiers of things, and no personal data.

Code and log snippets, JSON with ids, arithmetic, versions, hashes, epoch timestamps in milliseconds,
order/batch/product ids, loopback and documentation IP addresses (127.0.0.0/8, 192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24, ::1): the kind of text that makes up many prompts to an AI
assistant. A detector should report nothing personal in them (``make eval`` and
``tests/unit/test_detection_precision.py`` count the texts with a false alarm).

Deterministic for a seed; no Faker (no name or address may appear by chance).
"""

from __future__ import annotations

import random
from typing import Callable

# Entity types that count as a false alarm on this set (dates and times are not personal by
# themselves, and log timestamps are dates).
PERSONAL_TYPES = frozenset({
    "PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS",
    "LOCATION", "ID_NUMBER", "CRYPTO", "AGE",
})

_WORDS = ("cache", "worker", "queue", "index", "parser", "buffer", "session", "router", "shard", "batch")
_FUNCS = ("compute_total", "parse_rows", "flush", "retry_job", "load_config", "merge_chunks")


def _doc_ip(rng: random.Random) -> str:
    return rng.choice([
        f"127.0.0.{rng.randint(1, 254)}", f"127.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        f"192.0.2.{rng.randint(1, 254)}", f"198.51.100.{rng.randint(1, 254)}",
        f"203.0.113.{rng.randint(1, 254)}", "::1", "0.0.0.0", "localhost",
    ])


def _epoch_ms(rng: random.Random) -> int:
    return rng.randint(1_500_000_000_000, 1_800_000_000_000)


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _json_ids(rng: random.Random) -> str:
    items = ", ".join(
        f'{{"product_id": {rng.randint(1_000_000, 99_999_999_999)}, "sku": "SKU-{rng.randint(10000, 999999)}", '
        f'"qty": {rng.randint(1, 40)}, "price_cents": {rng.randint(100, 999999)}}}'
        for _ in range(rng.randint(1, 3))
    )
    return (f'{{"order_id": {rng.randint(10_000_000, 9_999_999_999)}, "created_at": {_epoch_ms(rng)}, '
            f'"items": [{items}], "batch": "{rng.randint(100000, 99999999)}"}}')


def _log_line(rng: random.Random) -> str:
    level = rng.choice(["INFO", "WARN", "ERROR", "DEBUG"])
    return (f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
            f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z {level} "
            f"[{rng.choice(_WORDS)}-{rng.randint(1, 16)}] pid={rng.randint(1000, 4194304)} "
            f"request {_hex(rng, 32)} took {rng.randint(1, 99999)}ms from {_doc_ip(rng)}:{rng.randint(1024, 65535)} "
            f"ts={_epoch_ms(rng)} batch_id={rng.randint(10_000_000, 9_999_999_999)}")


def _python(rng: random.Random) -> str:
    a, b = rng.randint(1000, 999999), rng.randint(1000, 999999)
    return (f"def {rng.choice(_FUNCS)}(rows):\n    total = {a} * {b}  # = {a * b}\n"
            f"    timeout_ms = {rng.randint(1000, 9_999_999)}\n    return requests.get('http://{_doc_ip(rng)}:"
            f"{rng.randint(1024, 65535)}/api/v{rng.randint(1, 3)}/items/{rng.randint(1_000_000, 999_999_999)}')")


def _arithmetic(rng: random.Random) -> str:
    a, b = rng.randint(100_000, 99_999_999), rng.randint(1000, 9_999_999)
    op, res = rng.choice([("+", a + b), ("*", a * b), ("-", a - b)])
    return f"What is {a} {op} {b}? I got {res} but the calculator says {res + rng.choice([0, 1, -1])}."


def _versions(rng: random.Random) -> str:
    v = f"{rng.randint(0, 12)}.{rng.randint(0, 40)}.{rng.randint(0, 200)}"
    return (f"Upgrading from {v} to {rng.randint(1, 12)}.{rng.randint(0, 40)}.{rng.randint(0, 99)} broke the build; "
            f"commit {_hex(rng, 40)} (short {_hex(rng, 7)}), sha256 {_hex(rng, 64)}, "
            f"build #{rng.randint(10000, 9999999)} at {_epoch_ms(rng)}.")


def _order_chat(rng: random.Random) -> str:
    return (f"My order {rng.randint(100_000_000, 9_999_999_999)} placed at {_epoch_ms(rng)} still shows batch "
            f"{rng.randint(1_000_000, 99_999_999)} and tracking {rng.randint(10**11, 10**12 - 1)}. "
            f"Invoice {rng.randint(2020, 2025)}-{rng.randint(100000, 999999)} totals {rng.randint(10, 9999)}.{rng.randint(10, 99)} EUR.")


def _sql(rng: random.Random) -> str:
    return (f"SELECT * FROM events WHERE account_id = {rng.randint(10_000_000, 9_999_999_999)} AND created_ms > "
            f"{_epoch_ms(rng)} LIMIT {rng.randint(10, 5000)}; -- ran on {_doc_ip(rng)} in {rng.randint(2, 9999)} ms")


def _metrics(rng: random.Random) -> str:
    return "\n".join(
        f"{rng.choice(_WORDS)}_{rng.choice(['bytes', 'count', 'latency_ms'])}{{shard=\"{rng.randint(0, 63)}\"}} "
        f"{rng.randint(1_000_000, 99_999_999_999)} {_epoch_ms(rng)}"
        for _ in range(rng.randint(2, 5))
    )


def _csv(rng: random.Random) -> str:
    rows = "\n".join(
        f"{rng.randint(1_000_000, 99_999_999)},{rng.randint(1, 999)},{rng.randint(100, 99999)}.{rng.randint(0, 99):02d},"
        f"{_epoch_ms(rng)}" for _ in range(rng.randint(2, 4)))
    return "id,qty,amount,updated_ms\n" + rows


_KINDS: tuple[Callable[[random.Random], str], ...] = (
    _json_ids, _log_line, _python, _arithmetic, _versions, _order_chat, _sql, _metrics, _csv,
)


def negative_texts(n: int = 50, seed: int = 12) -> list[tuple[str, str]]:
    """``n`` generated ``(kind, text)`` pairs, every kind in turn; the same for the same seed."""
    rng = random.Random(seed)
    return [(_KINDS[i % len(_KINDS)].__name__.lstrip("_"), _KINDS[i % len(_KINDS)](rng)) for i in range(n)]
