"""Rights use cases: receive, verify and carry out access, erasure and objection requests.

The application is wired here and its use cases live by concern:

* :mod:`services.rights.queue`: receive, extend, staff's deny (with an exemption) and complete,
  get and list (paged, from the projection below);
* :mod:`services.rights.access`: the access export (GDPR Art. 15/20) and the staff's reveal;
* :mod:`services.rights.erasure`: erasure (GDPR Art. 17) as a process manager following the
  vault's log; :mod:`services.rights.held`: the held part of a partial erasure, following
  retention's log.

Projections (rebuilt from the log at start-up, updated on every recorded event, whichever replica
recorded it): every request's due date, whether it is open and the log positions of its events
(its evidence, read without scanning the log), the open erasures, and each
subject's open (first) erasure: one subject, one open erasure, a second request while one is
open is recorded as its duplicate and ends with its outcome.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from services.rights.access import EXPORT_FORMAT, AccessExports
from services.rights.domain import DataSubjectRequest
from services.rights.erasure import ErasureProcess
from services.rights.exemptions import load_exemptions
from services.rights.held import HeldPartProcess
from services.rights.queue import RequestQueue
from services.rights.views import Downstream, RequestView
from shared.app import LetheApplication, event_attributes, event_type
from shared.config import Settings
from shared.crypto import subject_ref
from shared.errors import NotFound, require
from shared.follower import Follower
from shared.keysource import FileKeySource
from shared.policy import load_policy

__all__ = ["EXPORT_FORMAT", "Downstream", "RequestView", "RightsApplication"]
CLOSING = ("RequestFulfilled", "RequestDenied")


class RightsApplication(RequestQueue, AccessExports, ErasureProcess, HeldPartProcess,
                        LetheApplication):
    """The rights service's application."""

    service = "rights"

    def __init__(self, settings: Settings, keys: FileKeySource, downstream: Downstream,
                 vault_channel: Callable[[], Any],
                 retention_channel: Callable[[], Any] | None = None) -> None:
        """Wire the application; ``vault_channel`` gives a gRPC channel to the vault (its log),
        ``retention_channel`` one to retention (its log: hold releases)."""
        self.request_ids: dict[str, str] = {}  # aggregate id -> request id (projection)
        self.due: dict[str, tuple[dt.datetime, str]] = {}  # aggregate id -> (due_at, request id)
        self.open_ids: set[str] = set()  # aggregate ids of requests not yet ended
        self.positions: dict[str, list[int]] = {}  # aggregate id -> log positions of its events
        self.open_erasures: set[str] = set()  # aggregate ids of erasures not yet ended
        self.erasing: dict[str, str] = {}  # subject_ref -> request id of its open (first) erasure
        self._subjects: dict[str, str] = {}  # aggregate id -> subject_ref of open erasures
        self.held_erasures: set[str] = set()  # aggregate ids of partial erasures whose held part waits
        super().__init__(settings, keys)
        self.pepper = keys.get_or_create("pepper")
        self.downstream = downstream
        self.policy = load_policy()
        self.exemptions = load_exemptions(self.policy.raw)
        self.exports_dir = settings.data_dir / "exports"
        self.vault_log = Follower(self, "vault", vault_channel, self.on_vault_event)
        self.retention_log = (Follower(self, "retention", retention_channel, self.on_retention_event)
                              if retention_channel else None)
        self.on_erasure_submitted: Callable[[], None] = lambda: None
        self.rebuild_projections()

    def on_recorded(self, event: Any) -> None:  # noqa: D102
        kind, aggregate_id = event_type(event), str(event.originator_id)
        if kind == "RequestReceived":
            attrs = event_attributes(event)
            self.request_ids[aggregate_id] = attrs["request_id"]
            self.due[aggregate_id] = (event.due_at, attrs["request_id"])
            self.open_ids.add(aggregate_id)
            if attrs["kind"] == "erasure":
                self.open_erasures.add(aggregate_id)
                self._subjects[aggregate_id] = attrs["subject_ref"]
                self.erasing.setdefault(attrs["subject_ref"], attrs["request_id"])
        elif kind == "DeadlineExtended" and aggregate_id in self.due:
            self.due[aggregate_id] = (event.new_due_at, self.due[aggregate_id][1])
        elif kind == "DuplicateRecognised":
            ref = self._subjects.get(aggregate_id, "")
            if self.erasing.get(ref) == self.request_ids.get(aggregate_id):
                self.erasing[ref] = event_attributes(event)["of_request_id"]
        elif kind == "ErasurePartial":
            self.held_erasures.add(aggregate_id)
        elif kind == "HeldPartErased":
            self.held_erasures.discard(aggregate_id)
        elif kind in CLOSING:
            self.open_ids.discard(aggregate_id)
            self.open_erasures.discard(aggregate_id)
            ref = self._subjects.pop(aggregate_id, "")
            if ref and self.erasing.get(ref) == self.request_ids.get(aggregate_id):
                del self.erasing[ref]
        if aggregate_id in self.request_ids:  # a request's event: where its evidence is
            self.positions.setdefault(aggregate_id, []).append(self.recorded_position)

    def _get(self, request_id: str) -> DataSubjectRequest:
        try:
            return self.repository.get(DataSubjectRequest.create_id(request_id))
        except AggregateNotFoundError:
            raise NotFound("no such request", "REQUEST_NOT_FOUND") from None

    def resolve_subject(self, account_id: str) -> str:
        """The account's ``subject_ref`` (HMAC-SHA256 under the pepper, which stays here).

        Callers (the operator's CLI) name subjects through this, never by holding the pepper.
        Raises InvalidArgument on an empty or over-long account id.
        """
        require(0 < len(account_id) <= 256, "account_id is missing or too long",
                "ACCOUNT_ID_INVALID")
        return subject_ref(self.pepper, account_id)
