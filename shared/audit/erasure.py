"""Invariants of erasure (crypto-shredding): what a shred destroyed stays destroyed.

* ``ERASURE_INCOMPLETE``: a fulfilled erasure lacks the vault's shred (for it, or for the earlier
  request it relies on or duplicates);
* ``ERASED_SCHEDULE_OPEN``: a record whose key was shredded still has a live schedule;
* ``READ_AFTER_ERASURE``: a record was read after its key was shredded (see
  :func:`shred_destroys`);
* ``ERASED_KEY_ALIVE``: a bucket key version that wrapped a shredded generation still exists in
  the vault's key source (checked when the auditor sees it: :func:`bucket_versions_in`), so a
  copy of the data dir taken before that erasure would decrypt it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from shared.audit.model import BucketVersions, Entry, Facts, Invariant, Violation
from shared.keysource import FileKeySource
from shared.transit import transit_bucket_keys

_SHREDDED = ("vault", "SubjectShredded")
_STORED = ("vault", "RecordStored")


def shred_destroys(shred: Entry, stored: Entry) -> bool:
    """True when the vault's ``SubjectShredded`` destroyed the key of a ``RecordStored`` record of
    the same subject: its generation is one the shred covers (up to ``generation``) and its
    category is not one the shred kept under legal hold (``kept_categories``, a partial erasure;
    a later shred destroys those)."""
    category = str(stored.attributes.get("category", ""))
    kept = shred.attributes.get("kept_categories") or []
    if any(category == k or category.startswith(k + ".") for k in kept):
        return False
    return int(stored.attributes["generation"]) <= int(shred.attributes["generation"])


def erased_at(facts: Facts, record_id: str) -> dt.datetime | None:
    """When the record's key was first shredded (None: never, or a record the vault never stored)."""
    shreds_of = facts.memo.get("shreds_of")
    if shreds_of is None:
        shreds_of = defaultdict(list)
        for e in facts.events(*_SHREDDED):
            shreds_of[e.attributes["subject_ref"]].append(e)
        facts.memo["shreds_of"] = shreds_of
    s = facts.stored.get(record_id)
    if s is None:
        return None
    return min((e.recorded_at for e in shreds_of.get(s.attributes["subject_ref"], ())
                if shred_destroys(e, s)), default=None)


def erasure_incomplete(facts: Facts) -> Iterator[Violation]:
    """Each fulfilled erasure request none of whose covering request ids has a vault shred."""
    shred_requests = {e.attributes["request_id"] for e in facts.events(*_SHREDDED)}
    for events in rights_requests(facts).values():
        first = events[0].attributes
        names = {e.event for e in events}
        if first.get("kind") != "erasure" or "RequestFulfilled" not in names:
            continue
        covered = {first["request_id"]} | {
            e.attributes.get("previous_request_id") or e.attributes.get("of_request_id")
            for e in events if e.event in ("NothingNewToErase", "DuplicateRecognised")}
        if not covered & shred_requests:
            yield Violation("ERASURE_INCOMPLETE", "rights", events[-1].position,
                            f"request {first['request_id']}")


def rights_requests(facts: Facts) -> dict[str, list[Entry]]:
    """The rights log's requests: request aggregate id -> its events (first: RequestReceived)."""
    if "requests" not in facts.memo:
        by_id: dict[str, list[Entry]] = defaultdict(list)
        for e in facts.logs.get("rights", []):
            by_id[e.originator_id].append(e)
        facts.memo["requests"] = {k: v for k, v in by_id.items()
                                  if v[0].event == "RequestReceived"}  # not SubjectErasures...
    return facts.memo["requests"]


def erased_schedule_open(facts: Facts) -> Iterator[Violation]:
    """Each schedule still ``scheduled`` although its record's key was shredded and retention
    recorded neither its closing by erasure nor its expiry."""
    closed = {e.originator_id for e in facts.events("retention", "ScheduleClosedByErasure")}
    closed |= {e.originator_id for e in facts.events("retention", "RecordExpired")}
    for rid, e in facts.schedules.items():
        if (e.attributes.get("state") == "scheduled" and rid not in closed
                and erased_at(facts, rid) is not None):
            yield Violation("ERASED_SCHEDULE_OPEN", "retention", e.position, f"record {rid}")


def read_after_erasure(facts: Facts) -> Iterator[Violation]:
    """Each ``RecordRead`` recorded after the record's key was shredded."""
    for e in facts.events("vault", "RecordRead"):
        at = erased_at(facts, e.originator_id)
        if at is not None and e.recorded_at > at:
            yield Violation("READ_AFTER_ERASURE", "vault", e.position, f"record {e.originator_id}")


def erased_keys_alive(shreds: list[Entry], bucket_versions: BucketVersions) -> list[Violation]:
    """ERASED_KEY_ALIVE for each destroyed DEK whose bucket still holds a version below the one
    its shred rotated to (``buckets_rotated``: [[generation, bucket, version], ...], one entry per
    key group destroyed of a generation; groups a partial erasure kept are listed by the shred
    that later destroys them)."""
    out = []
    for e in shreds:
        for generation, bucket, version in e.attributes.get("buckets_rotated") or []:
            if any(v < int(version) for v in bucket_versions(int(bucket))):
                out.append(Violation("ERASED_KEY_ALIVE", "vault", e.position,
                                     f"request {e.attributes.get('request_id')} generation "
                                     f"{generation}: bucket {bucket} key below v{version} exists"))
    return out


def erased_key_alive(facts: Facts) -> Iterator[Violation]:
    """:func:`erased_keys_alive` over every shred (nothing when the key source is not visible)."""
    if facts.bucket_versions is not None:
        yield from erased_keys_alive(facts.events(*_SHREDDED), facts.bucket_versions)


def bucket_versions_in(settings: Any) -> BucketVersions | None:
    """The live bucket key versions of the vault's key source, when this machine holds it.

    The source is ``settings.vault_key_dir`` or else ``settings.key_dir`` (the local profile);
    returns None when it holds no vault bucket keys (e.g. a KMS in production), in which case
    ERASED_KEY_ALIVE is not checked. With ``LETHE_KEY_SOURCE=transit`` the versions are those
    of the Transit keys (untrimmed versions count as alive), read with the auditor's token.
    """
    transit = transit_bucket_keys(settings)
    if transit is not None:
        return transit.versions
    source = FileKeySource(settings.vault_key_dir or settings.key_dir)
    if not source.list("vault/buckets"):
        return None
    return lambda bucket: sorted(int(n.rsplit("/v", 1)[1])
                                 for n in source.list(f"vault/buckets/{bucket:03d}"))


_GUARANTEE = ("Erasure, keys and backups: \"once `lethe rights erase` reports a request fulfilled, "
              "every personal datum Lethe held about that data subject ... is encrypted under "
              "data keys that no longer exist anywhere\"")
INVARIANTS = (
    Invariant("ERASURE_INCOMPLETE", _GUARANTEE + " (fulfilled only after the vault's shred)",
              (("rights", "RequestReceived"), ("rights", "RequestFulfilled"),
               ("rights", "NothingNewToErase"), ("rights", "DuplicateRecognised"), _SHREDDED),
              erasure_incomplete),
    Invariant("ERASED_SCHEDULE_OPEN", "Erasure, keys and backups: \"closing the schedules is "
              "retention's (it follows the same log)\"",
              (("retention", "ScheduleCreated"), ("retention", "ScheduleClosedByErasure"),
               ("retention", "RecordExpired"), _STORED, _SHREDDED), erased_schedule_open),
    Invariant("READ_AFTER_ERASURE", _GUARANTEE + " (no record of theirs is read afterwards, but "
              "for \"the categories the request names as preserved under a legal hold\")",
              (("vault", "RecordRead"), _STORED, _SHREDDED), read_after_erasure),
    Invariant("ERASED_KEY_ALIVE", "Erasure, keys and backups: \"`lethe audit verify` reports "
              "`ERASED_KEY_ALIVE` if an older version still exists in the key source\"",
              (_SHREDDED,), erased_key_alive, needs_key_source=True),
)
