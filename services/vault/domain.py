"""Vault domain: a subject's key generations (with erasure tombstones) and stored records.

Rules (docs/design.md §4.3): an erased key generation can never be re-created, written to or read;
anything received before an erasure completed is covered by it; an account that keeps using the
service afterwards starts a new generation. Events name subjects only by ``subject_ref`` and content
only by record ids; no key material and no content ever enters an event.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable

from eventsourcing.domain import Aggregate, event

from shared import record_kinds
from shared.errors import FailedPrecondition, InvalidArgument
from shared.ids import stable_id
from shared.policy import Policy

CATEGORIES = record_kinds.CATEGORIES
FORMS = record_kinds.FORMS
SUBJECT_REF = re.compile(r"^sr_[0-9a-f]{32}$")
MAX_CONTENT_BYTES = 1024 * 1024
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)  # the timestamp of events that must not date anything
# Session links (session id and pseudonym key) are technical metadata of the sessions: they are
# sealed under that category's key group, so they live and die with it.
SESSION_CATEGORY = record_kinds.METADATA.category


class KeyGroups:
    """Which DEK of a generation seals which category: one key group per retention rule of the
    policy (the rule's categories joined by ``+``, e.g. ``user.content``), so that an erasure can
    destroy some categories and keep those a legal hold preserves, at O(groups) cost whatever the
    record count. Built from the policy file, never from literals."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.names: tuple[str, ...] = tuple("+".join(rule.categories) for rule in policy.rules)

    def of(self, category: str) -> str:
        """The key group of a category; raises PolicyError when no retention rule covers it."""
        return "+".join(self.policy.rule_for(category).categories)

    def of_all(self, categories: Iterable[str]) -> set[str]:
        """The key groups of some categories."""
        return {self.of(c) for c in categories}

    def categories(self, group: str) -> tuple[str, ...]:
        """The categories a key group seals (every category for ``*``, the group before groups)."""
        return CATEGORIES if group == "*" else tuple(group.split("+"))


class VaultError(FailedPrecondition):
    """Base of the vault's own rule violations."""


class SubjectErased(VaultError):
    """The data was received before the subject's erasure completed: it must not be stored."""

    reason = "SUBJECT_ERASED"


def check_subject_ref(value: str) -> None:
    """Raise InvalidArgument unless ``value`` looks like ``sr_`` + 32 hex characters."""
    if not SUBJECT_REF.match(value):
        raise InvalidArgument("subject_ref is malformed", "SUBJECT_REF_INVALID")


class SubjectKeyring(Aggregate):
    """The key generations of one data subject (id: uuid5 of the subject_ref)."""

    @staticmethod
    def create_id(subject_ref: str) -> uuid.UUID:
        """Stable id of a subject's keyring."""
        return stable_id("keyring", subject_ref)

    class KeyringCreated(Aggregate.Created):
        """The subject's keyring exists. Its own timestamp is the epoch: it would date the
        subject's first interaction, which must not outlive an erasure."""

        subject_ref: str

        @staticmethod
        def create_timestamp() -> dt.datetime:
            """The epoch (see the class)."""
            return EPOCH

    @event(KeyringCreated)
    def __init__(self, subject_ref: str) -> None:
        self.subject_ref = subject_ref
        self.generation = 0
        self.active = False
        self.erased_before: dt.datetime | None = None
        self.shreds: dict[str, dict[str, object]] = {}

    def check_can_store(self, received_at: dt.datetime,
                        occurred_at: dt.datetime | None = None) -> None:
        """Raise SubjectErased when data received or dated before the last erasure is covered by it.

        Both times are UTC datetimes; ``occurred_at`` (when the interaction happened, if known)
        counts as well, so that a late or retried interaction from before the erasure is refused.
        """
        if self.erased_before is None:
            return
        if received_at < self.erased_before or (occurred_at is not None
                                                and occurred_at < self.erased_before):
            raise SubjectErased("subject erased after this data was received")

    def holds_nothing_new(self) -> bool:
        """True when the subject was erased and no generation started since: a new erasure
        request is fulfilled by the last shred (no second shred)."""
        return bool(self.shreds) and not self.active

    def needs_generation(self) -> bool:
        """True when a new key generation must be created before storing."""
        return not self.active

    class KeyGenerationCreated(Aggregate.Event):
        """A key generation started. Its own timestamp is the epoch: it would date the first
        interaction stored under the generation."""

        generation: int
        bucket: int

        @staticmethod
        def create_timestamp() -> dt.datetime:
            """The epoch (see the class)."""
            return EPOCH

    @event(KeyGenerationCreated)
    def create_generation(self, generation: int, bucket: int) -> None:
        """Start generation ``generation`` (its DEK is wrapped under bucket ``bucket``)."""
        self.generation = generation
        self.active = True

    class SubjectShredded(Aggregate.Event):
        """Generations up to ``generation`` were shredded for erasure ``request_id``.

        v2 adds ``buckets_rotated``: ``[[generation, bucket, version], ...]``, one per shredded
        generation, meaning every key version of ``bucket`` below ``version`` was destroyed in the
        key source before this event was recorded (empty for a request fulfilled by an earlier
        shred, or for a subject that never held data). v3 adds ``kept_categories``: the category
        groups left under legal hold (shredded by a later request).
        """

        class_version = 3
        request_id: str
        subject_ref: str
        generation: int
        erased_at: dt.datetime
        records_purged: int
        notified_recipients: list[str]
        buckets_rotated: list[list[int]]
        kept_categories: list[str]

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """v1 events (before destruction was recorded) name no buckets."""
            state["buckets_rotated"] = []

        @staticmethod
        def upcast_v2_v3(state: dict[str, object]) -> None:
            """v2 events (before key groups) were full erasures: nothing kept."""
            state["kept_categories"] = []

    @event(SubjectShredded)
    def shred(self, request_id: str, subject_ref: str, generation: int, erased_at: dt.datetime,
              records_purged: int, notified_recipients: list[str],
              buckets_rotated: list[list[int]], kept_categories: list[str]) -> None:
        """Record that generations up to ``generation`` were crypto-shredded for ``request_id``,
        but for the key groups of ``kept_categories`` (held; shredded by a later request). A shred
        of older generations only (a held part) leaves the current one and the tombstone alone."""
        if generation >= self.generation:
            self.active = False
            self.erased_before = max(erased_at, self.erased_before or erased_at)
        self.generation = max(self.generation, generation)
        self.shreds[request_id] = {"generation": generation, "erased_at": erased_at.isoformat(),
                                   "records_purged": records_purged,
                                   "notified_recipients": list(notified_recipients),
                                   "kept_categories": list(kept_categories)}


class VaultRecord(Aggregate):
    """One encrypted record (its ciphertext lives in the record store, never in an event)."""

    @staticmethod
    def create_id(record_id: uuid.UUID, **_: object) -> uuid.UUID:
        """The record id is the aggregate id."""
        return record_id

    class RecordStored(Aggregate.Created):
        """A record was stored. Clear: ``subject_ref``, ``generation``, ``category`` and ``form``
        (what audit needs: which shred covers the record). Sealed: ``facts``, base64 of an
        AES-256-GCM blob (:func:`shared.crypto.seal` layout) under the DEK of the record's key
        group, associated data ``b"facts|" + record_id``, holding the JSON object ``received_at``,
        ``occurred_at`` (ISO 8601 UTC or null), ``size_bytes``, ``interaction_id`` and ``region``
        (see :mod:`services.vault.records`). Shredding the subject destroys that DEK, so after an
        erasure the log no longer tells when each interaction happened, was received, how large
        it was, or which records formed one interaction.

        v1 carried those facts in clear. History stays as it is (an event log is evidence and is
        never rewritten): a v1 event read back is upcast to v2 with ``facts`` empty, and its clear
        values dropped from the domain object; they stay in the stored v1 event, readable with the
        event cipher (README, erasure: what is kept).
        """

        class_version = 2
        record_id: uuid.UUID
        subject_ref: str
        generation: int
        category: str
        form: str
        facts: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, object]) -> None:
            """v1 -> v2: the clear per-record facts are not carried forward; nothing is sealed."""
            for name in ("region", "interaction_id", "received_at", "size_bytes", "occurred_at"):
                state.pop(name, None)
            state["facts"] = ""

        @staticmethod
        def create_timestamp() -> dt.datetime:
            """The epoch: the event's own timestamp would date the interaction's receipt."""
            return EPOCH

    @event(RecordStored)
    def __init__(self, record_id: uuid.UUID, subject_ref: str, generation: int, category: str,
                 form: str, facts: str) -> None:
        self.subject_ref = subject_ref
        self.generation = generation
        self.category = category
        self.form = form
        self.facts = facts
        self.purged = False

    @event("RecordRead")
    def read(self, purpose: str, request_id: str) -> None:
        """Record a decryption of this record for ``purpose``."""

    @event("RecordPurged")
    def purge(self, reason: str, request_id: str) -> None:
        """Record that the ciphertext was deleted."""
        self.purged = True
