"""Invariants of data-subject requests' deadlines.

* ``REQUEST_OVERDUE``: a request is neither fulfilled nor denied past its ``due_at`` (GDPR Art.
  12(3): one month, extendable by two; CCPA 1798.130: 45 days, extendable by 45).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from shared.audit.erasure import rights_requests
from shared.audit.model import Facts, Invariant, Violation


def request_overdue(facts: Facts) -> Iterator[Violation]:
    """Each open request whose deadline has passed: the ``due_at`` it was received with, or the
    ``new_due_at`` of its last ``DeadlineExtended``."""
    for events in rights_requests(facts).values():
        if {e.event for e in events} & {"RequestFulfilled", "RequestDenied"}:
            continue
        first = events[0].attributes
        due = first.get("due_at")
        for e in events:
            if e.event == "DeadlineExtended":
                due = e.attributes.get("new_due_at", due)
        if facts.now > dt.datetime.fromisoformat(str(due)):
            yield Violation("REQUEST_OVERDUE", "rights", events[0].position,
                            f"request {first.get('request_id')}")


INVARIANTS = (
    Invariant("REQUEST_OVERDUE", "Where each promise of the privacy policy is enforced: "
              "\"access / deletion / objection within the legal deadlines\"",
              (("rights", "RequestReceived"), ("rights", "RequestFulfilled"),
               ("rights", "RequestDenied"), ("rights", "DeadlineExtended")), request_overdue),
)
