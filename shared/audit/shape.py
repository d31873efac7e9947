"""Invariants on each log on its own: complete, and free of personal data in clear.

* ``LOG_GAP``: positions are gap-free from 1 (an event was dropped or inserted);
* ``EVENT_UNDECODABLE``: a stored event does not decrypt or decode (forged or flipped bytes; the
  services' logs are also checked against their signed heads, the gateway's only here);
* ``PII_IN_EVENT``: an attribute holds an e-mail address or a full IPv4 address in clear;
* ``REIDENTIFICATION_HOLDS_DATA``: a gateway ``ResponseReidentified`` holds anything but the
  interaction's request id (a UUID), per-entity-type counts and the streamed flag.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

from shared.app import UNDECODABLE
from shared.audit.model import ANY, Facts, Invariant, Violation, strings_in

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d./])")
_ENTITY_TYPE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
_REIDENTIFIED_KEYS = frozenset({"originator_topic", "request_id", "entity_counts", "streamed"})


def log_gap(facts: Facts) -> Iterator[Violation]:
    """The first position of each log that is not the one expected (1, 2, 3, ...)."""
    for service, log in facts.logs.items():
        for expected, e in enumerate(log, start=1):
            if e.position != expected:
                yield Violation("LOG_GAP", service, e.position, f"expected position {expected}")
                break


def event_undecodable(facts: Facts) -> Iterator[Violation]:
    """Each event whose stored bytes did not decrypt or decode (read as ``Undecodable``)."""
    for service, log in facts.logs.items():
        for e in log:
            if e.event == UNDECODABLE:
                yield Violation("EVENT_UNDECODABLE", service, e.position,
                                "the stored bytes do not decode")


def _holds_pii(value: str) -> bool:
    # the cheap membership tests first: the patterns backtrack over long runs of word characters
    return bool(("@" in value and _EMAIL.search(value))
                or (value.count(".") >= 3 and _IPV4.search(value)))


def pii_in_event(facts: Facts) -> Iterator[Violation]:
    """Each event with an e-mail address or a full IPv4 address in any attribute value."""
    for service, log in facts.logs.items():
        for e in log:
            if any(_holds_pii(v) for v in strings_in(e.attributes)):
                yield Violation("PII_IN_EVENT", service, e.position,
                                f"{e.event} holds an e-mail or IP address")


def _is_uuid(value: object) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def reidentification_holds_data(facts: Facts) -> Iterator[Violation]:
    """Each ``ResponseReidentified`` with another attribute, a request id that is not a UUID, or
    a count that is not a non-negative integer keyed by an entity type (``EMAIL_ADDRESS``)."""
    for e in facts.events("gateway", "ResponseReidentified"):
        counts = e.attributes.get("entity_counts")
        ok = (set(e.attributes) <= _REIDENTIFIED_KEYS and _is_uuid(e.attributes.get("request_id"))
              and isinstance(counts, dict) and isinstance(e.attributes.get("streamed"), bool)
              and all(isinstance(k, str) and _ENTITY_TYPE.match(k) and type(v) is int and v >= 0
                      for k, v in counts.items()))
        if not ok:
            yield Violation("REIDENTIFICATION_HOLDS_DATA", "gateway", e.position,
                            f"event {e.originator_id} holds more than counts per entity type")


INVARIANTS = (
    Invariant("LOG_GAP", "Audit: \"`verify` checks completeness\" (positions gap-free from 1)",
              ((ANY, ANY),), log_gap),
    Invariant("EVENT_UNDECODABLE", "Audit: \"`EVENT_UNDECODABLE` (bytes flipped or forged)\"",
              ((ANY, ANY),), event_undecodable),
    Invariant("PII_IN_EVENT", "Security: \"Canary tests check that planted personal data reaches "
              "no span, log, error or event.\"", ((ANY, ANY),), pii_in_event),
    Invariant("REIDENTIFICATION_HOLDS_DATA", "The front door: \"each re-identification is "
              "recorded as an event without personal data\"",
              (("gateway", "ResponseReidentified"),), reidentification_holds_data),
)
