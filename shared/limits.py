"""Every size limit of Lethe, in one place (the README's *Security* section quotes this module).

A limit is checked where data enters (the servicer or the CLI reader) and answered with
INVALID_ARGUMENT and an UPPER_SNAKE reason. A service that calls another splits its calls to fit
the callee's limits (:func:`chunks`), so a request that is within the documented limits never
fails downstream: ``Ingest`` of 1,000 interactions becomes 2,000 texts, sent to anonymization in
calls of at most :data:`MAX_BATCH_ITEMS` texts and :data:`MAX_CALL_BYTES` bytes.

Sizes are bytes of UTF-8 (``surrogatepass``) unless a name says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

#: One gRPC message, either direction, every service and client (grpc max send/receive length).
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
#: One text: a prompt, a response or contact details; one text of an anonymization batch.
MAX_TEXT_BYTES = 256 * 1024
#: Items of one public batch request: interactions of ``Ingest``, texts of ``AnonymizeBatch``.
MAX_BATCH_ITEMS = 1000
#: Interactions of one ``IngestStream`` (its results come back in one message).
MAX_STREAM_ITEMS = 100_000
#: Items of one internal vault call (sessions, records, record ids); an interaction is <= 4 records.
MAX_VAULT_ITEMS = 10_000
#: The content of one vault record (a JSON body of at most two texts plus keys).
MAX_RECORD_BYTES = 1024 * 1024
#: One line of ``lethe ingest``'s JSON Lines input (a larger line is LINE_TOO_LARGE).
MAX_LINE_BYTES = 1024 * 1024
#: Account ids and session hints, in characters.
MAX_ID_CHARS = 256
#: Payload one internal call carries at most (well below MAX_MESSAGE_BYTES: protobuf overhead,
#: redacted texts that grow with placeholders, and memory per call stay bounded).
MAX_CALL_BYTES = 8 * 1024 * 1024

T = TypeVar("T")


def chunks(items: Sequence[T], max_items: int, max_bytes: int = MAX_CALL_BYTES,
           size: Callable[[T], int] = lambda _: 0) -> Iterator[list[T]]:
    """Consecutive runs of ``items`` with at most ``max_items`` items and ``max_bytes`` bytes each.

    ``size(item)`` gives an item's bytes; an item larger than ``max_bytes`` goes alone in a run
    (the callee then answers for it). Order is kept; every item is in exactly one run.
    """
    run: list[T] = []
    used = 0
    for item in items:
        n = size(item)
        if run and (len(run) >= max_items or used + n > max_bytes):
            yield run
            run, used = [], 0
        run.append(item)
        used += n
    if run:
        yield run


def text_bytes(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (lone surrogates counted as three bytes, as the checks do)."""
    return len(text.encode("utf-8", "surrogatepass"))
