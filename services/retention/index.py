"""The retention service's schedule index, kept in its own SQL store (``retention/index.db``).

A projection of this service's log: schedules (one row per record), legal holds and objections,
plus the log position it reflects. It lives in the store, not in memory, so the service's memory
does not grow with the number of stored records. Rows change in one transaction with the
position, so a crash re-applies nothing twice and loses nothing: start-up continues from the
stored position. Times are stored as integer microseconds since the epoch (UTC) so that they
compare as numbers on SQLite and PostgreSQL alike. Only pseudonymous ids live here.

Per-record times and interaction ids are not in this service's log (``ScheduleCreated`` v3): a new
row starts with ``facts`` = PENDING and no times; :meth:`ScheduleIndex.fill` writes the collection
time, the deadline and the interaction id that the vault answers (``GetRecordFacts``), or NONE
when the vault no longer has the record. When a record is erased its row keeps no time and no
interaction id (``ScheduleClosedByErasure``, and ``SubjectForgotten`` for rows already expired);
SQLite zeroes the freed bytes (``PRAGMA secure_delete=ON``, :mod:`shared.store`). An index from
an older schema is dropped and rebuilt from the log (times then come from the vault again).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from services.retention.domain import ErasureScope
from shared.store import SqlStore

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_COLUMNS = ("record_id", "subject_ref", "category", "form", "rule", "interaction_id",
            "stored_us", "due_us", "state", "purged", "sweep_id", "generation", "facts")
PENDING, KNOWN, NONE = 0, 1, 2  # ``facts``: not asked of the vault yet, answered, not to be had
_FORGET = f"stored_us=NULL, due_us=NULL, interaction_id=NULL, facts={NONE}"
_HOLD_COLUMNS = ("hold_id", "aggregate_id", "subject_ref", "record_id", "category", "reason",
                 "reference", "placed_at", "active")


def to_us(value: Any) -> int | None:
    """Microseconds since the epoch (UTC) of a datetime or ISO 8601 text; None stays None."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        value = dt.datetime.fromisoformat(value)
    return (value - _EPOCH) // dt.timedelta(microseconds=1)


def from_us(value: int | None) -> dt.datetime | None:
    """The UTC datetime of :func:`to_us` microseconds."""
    return None if value is None else _EPOCH + dt.timedelta(microseconds=int(value))


class ScheduleIndex:
    """Schedules, holds and objections in SQL, fed by :meth:`apply` with recorded events.

    A schedule is a dict: record_id, subject_ref, category, form, rule, interaction_id (or
    None), stored_at (the collection time, or None), due_at (UTC or None), state ("scheduled",
    "expired", "erased"), purged (bool), sweep_id (the sweep that expired it, or ""), generation
    (the record's key generation in the vault; 0 when unknown, for schedules created before it
    was recorded), facts (PENDING, KNOWN or NONE: whether the times are known).
    """

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self._drop_older_schema()
        store.execute("""CREATE TABLE IF NOT EXISTS schedules (
            record_id TEXT PRIMARY KEY, subject_ref TEXT NOT NULL, category TEXT NOT NULL,
            form TEXT NOT NULL, rule TEXT NOT NULL, interaction_id TEXT,
            stored_us BIGINT, due_us BIGINT, state TEXT NOT NULL,
            purged BIGINT NOT NULL, sweep_id TEXT NOT NULL,
            generation BIGINT NOT NULL DEFAULT 0, facts BIGINT NOT NULL DEFAULT 0)""")
        for name, cols in (("schedules_due", "state, due_us, record_id"),
                           ("schedules_subject", "subject_ref"),
                           ("schedules_interaction", "interaction_id"),
                           ("schedules_unpurged", "state, purged"),
                           ("schedules_sweep", "sweep_id"),
                           ("schedules_facts", "facts, state")):
            store.execute(f"CREATE INDEX IF NOT EXISTS {name} ON schedules ({cols})")
        store.execute("""CREATE TABLE IF NOT EXISTS holds (
            hold_id TEXT PRIMARY KEY, aggregate_id TEXT NOT NULL, subject_ref TEXT NOT NULL,
            record_id TEXT NOT NULL, category TEXT NOT NULL, reason TEXT NOT NULL,
            reference TEXT NOT NULL, placed_at TEXT NOT NULL, active BIGINT NOT NULL)""")
        store.execute("""CREATE TABLE IF NOT EXISTS objections (
            subject_ref TEXT NOT NULL, purpose TEXT NOT NULL, PRIMARY KEY (subject_ref, purpose))""")
        store.execute("""CREATE TABLE IF NOT EXISTS subjects (
            status_id TEXT PRIMARY KEY, subject_ref TEXT NOT NULL)""")
        store.execute("""CREATE TABLE IF NOT EXISTS projection (
            name TEXT PRIMARY KEY, position BIGINT NOT NULL)""")

    def _drop_older_schema(self) -> None:
        """Migration: an index from before the ``facts`` column (times from the log) is dropped,
        so that it is rebuilt from the log from position 0; probing with a query works the same
        on SQLite and PostgreSQL."""
        try:
            self.store.execute("SELECT facts FROM schedules LIMIT 1")
            return
        except Exception:  # noqa: BLE001 - sqlite3.OperationalError or psycopg UndefinedColumn
            pass
        for table in ("schedules", "holds", "objections", "subjects", "projection"):
            self.store.execute(f"DROP TABLE IF EXISTS {table}")
        self.store.scrub()

    # ---- position ----
    def position(self) -> int:
        """The last log position applied (0 when empty)."""
        rows = self.store.execute("SELECT position FROM projection WHERE name='index'")
        return int(rows[0][0]) if rows else 0

    def set_position(self, position: int) -> None:
        """Record the last log position applied (call inside the transaction of the rows)."""
        if self.store.execute("SELECT 1 FROM projection WHERE name='index'"):
            self.store.execute("UPDATE projection SET position=? WHERE name='index' AND position<?",
                               (position, position))
        else:
            self.store.execute("INSERT INTO projection VALUES ('index', ?)", (position,))

    # ---- feeding ----
    def apply(self, kind: str, originator_id: str, attrs: dict[str, Any]) -> None:
        """Update the index with one recorded event (idempotent: re-applying changes nothing)."""
        handler = getattr(self, "_on_" + kind, None)
        if handler is not None:
            handler(originator_id, attrs)

    def _on_ScheduleCreated(self, rid: str, a: dict[str, Any]) -> None:  # noqa: N802
        facts = PENDING if a["state"] == "scheduled" else NONE
        self.store.execute(
            f"INSERT INTO schedules ({', '.join(_COLUMNS)}) "
            "VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL, ?, 1, '', ?, ?) "
            "ON CONFLICT (record_id) DO NOTHING",
            (rid, a["subject_ref"], a["category"], a["form"], a["rule"], a["state"],
             int(a.get("generation") or 0), facts))

    def _on_DeadlineSet(self, rid: str, a: dict[str, Any]) -> None:  # noqa: N802
        self.store.execute("UPDATE schedules SET due_us=? WHERE record_id=? AND state='scheduled'",
                           (to_us(a["due_at"]), rid))

    def _on_RecordExpired(self, rid: str, a: dict[str, Any]) -> None:  # noqa: N802
        self.store.execute("UPDATE schedules SET state='expired', purged=?, sweep_id=? "
                           "WHERE record_id=?", (int(bool(a.get("purged", False))),
                                                 a.get("sweep_id", ""), rid))

    def _on_ExpiredRecordPurged(self, rid: str, a: dict[str, Any]) -> None:  # noqa: N802
        self.store.execute("UPDATE schedules SET purged=1 WHERE record_id=?", (rid,))

    def _on_ScheduleClosedByErasure(self, rid: str, a: dict[str, Any]) -> None:  # noqa: N802
        self.store.execute(f"UPDATE schedules SET state='erased', {_FORGET} WHERE record_id=?", (rid,))

    def _on_SubjectNoted(self, status_id: str, a: dict[str, Any]) -> None:  # noqa: N802
        self.store.execute("INSERT INTO subjects VALUES (?, ?) ON CONFLICT DO NOTHING",
                           (status_id, a["subject_ref"]))

    def _on_SubjectForgotten(self, status_id: str, a: dict[str, Any]) -> None:  # noqa: N802
        """Expired rows of an erased subject keep no time either (scheduled ones are closed one
        by one with ScheduleClosedByErasure; held ones stay)."""
        scope = ErasureScope(int(a.get("generation") or 0), tuple(a.get("kept_categories") or ()))
        rows = self.store.execute("SELECT s.record_id, s.category, s.generation FROM schedules s "
                                  "JOIN subjects j ON j.subject_ref = s.subject_ref WHERE "
                                  "j.status_id=? AND s.state='expired' AND s.facts<>?",
                                  (status_id, NONE))
        gone = [(rid,) for rid, category, g in rows if scope.covers(category, int(g))]
        self.store.executemany(f"UPDATE schedules SET {_FORGET} WHERE record_id=?", gone)

    def _on_HoldPlaced(self, aggregate_id: str, a: dict[str, Any]) -> None:  # noqa: N802
        self.store.execute(
            "INSERT INTO holds VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (hold_id) DO NOTHING",
            (a["hold_id"], aggregate_id, a["subject_ref"], a["record_id"], a["category"],
             a["reason"], a["reference"], str(a["placed_at"])))

    def _on_HoldReleased(self, aggregate_id: str, a: dict[str, Any]) -> None:  # noqa: N802
        self.store.execute("UPDATE holds SET active=0 WHERE aggregate_id=?", (aggregate_id,))

    def _on_ObjectionNoted(self, _: str, a: dict[str, Any]) -> None:  # noqa: N802
        if a.get("subject_ref"):
            self.store.execute("INSERT INTO objections VALUES (?, ?) ON CONFLICT DO NOTHING",
                               (a["subject_ref"], a["purpose"]))

    # ---- reading ----
    @staticmethod
    def _schedule(row: tuple[Any, ...]) -> dict[str, Any]:
        entry = dict(zip(_COLUMNS, row, strict=True))
        entry["stored_at"] = from_us(entry.pop("stored_us"))
        entry["due_at"] = from_us(entry.pop("due_us"))
        entry["purged"] = bool(entry["purged"])
        return entry

    def schedule(self, record_id: str) -> dict[str, Any] | None:
        """One schedule, or None."""
        rows = self.store.execute(f"SELECT {', '.join(_COLUMNS)} FROM schedules WHERE record_id=?",
                                  (record_id,))
        return self._schedule(rows[0]) if rows else None

    def for_subject(self, subject_ref: str, state: str = "") -> list[dict[str, Any]]:
        """A subject's schedules (all, or those in ``state``), oldest first."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM schedules WHERE subject_ref=?"
        params: tuple[Any, ...] = (subject_ref,)
        if state:
            sql, params = sql + " AND state=?", (subject_ref, state)
        rows = self.store.execute(sql + " ORDER BY stored_us, record_id", params)
        return [self._schedule(r) for r in rows]

    def for_interaction(self, interaction_id: str) -> list[dict[str, Any]]:
        """An interaction's schedules, by record id."""
        rows = self.store.execute(f"SELECT {', '.join(_COLUMNS)} FROM schedules "
                                  "WHERE interaction_id=? ORDER BY record_id", (interaction_id,))
        return [self._schedule(r) for r in rows]

    def due_pages(self, at: dt.datetime, page: int) -> Iterator[list[dict[str, Any]]]:
        """Live schedules due at or before ``at``, earliest first, in pages of ``page`` rows.

        Keyset pagination on (due_us, record_id): rows that stay live (held) are not read twice,
        and memory holds one page at a time.
        """
        last_due, last_id = -(2 ** 62), ""
        while True:
            rows = self.store.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM schedules WHERE state='scheduled' "
                "AND due_us IS NOT NULL AND due_us<=? AND (due_us>? OR (due_us=? AND record_id>?)) "
                "ORDER BY due_us, record_id LIMIT ?", (to_us(at), last_due, last_due, last_id, page))
            if not rows:
                return
            entries = [self._schedule(r) for r in rows]
            last_due, last_id = to_us(entries[-1]["due_at"]), entries[-1]["record_id"]
            yield entries

    def expired_unpurged(self, page: int) -> list[dict[str, Any]]:
        """Up to ``page`` expired schedules whose purge is not confirmed (v1 sweeps)."""
        rows = self.store.execute(f"SELECT {', '.join(_COLUMNS)} FROM schedules WHERE "
                                  "state='expired' AND purged=0 ORDER BY record_id LIMIT ?", (page,))
        return [self._schedule(r) for r in rows]

    def expired_by(self, sweep_id: str) -> int:
        """How many schedules sweep ``sweep_id`` expired."""
        return int(self.store.execute("SELECT COUNT(*) FROM schedules WHERE sweep_id=?",
                                      (sweep_id,))[0][0])

    def holds(self, include_released: bool = True) -> list[dict[str, Any]]:
        """Legal holds, by hold id: hold_id, subject_ref, record_id, category, reason, reference,
        placed_at (ISO 8601 UTC), active."""
        sql = f"SELECT {', '.join(_HOLD_COLUMNS)} FROM holds"
        rows = self.store.execute(sql + ("" if include_released else " WHERE active=1")
                                  + " ORDER BY hold_id")
        out = []
        for row in rows:
            hold = dict(zip(_HOLD_COLUMNS, row, strict=True))
            hold.pop("aggregate_id")
            hold["active"] = bool(hold["active"])
            out.append(hold)
        return out

    def hold(self, hold_id: str) -> dict[str, Any] | None:
        """One hold, or None."""
        return next((h for h in self.holds() if h["hold_id"] == hold_id), None)

    def objections(self, subject_ref: str) -> set[str]:
        """Purposes the subject objected to."""
        return {r[0] for r in self.store.execute(
            "SELECT purpose FROM objections WHERE subject_ref=?", (subject_ref,))}

    def pending(self, page: int) -> list[tuple[str, str]]:
        """Up to ``page`` (record_id, category) of live schedules whose facts were not asked yet."""
        return [(r[0], r[1]) for r in self.store.execute(
            "SELECT record_id, category FROM schedules WHERE facts=? AND state='scheduled' "
            "ORDER BY record_id LIMIT ?", (PENDING, page))]

    def fill(self, known: list[tuple[str, dt.datetime, dt.datetime | None, str]],
             missing: list[str]) -> None:
        """Write facts: ``known`` as (record_id, collected_at, due_at or None, interaction_id)
        (a deadline set by DeadlineSet stays); ``missing`` ids get NONE (the vault has no such
        live record: it expires or is erased by its own events)."""
        with self.store.transaction() as tx:
            tx.executemany("UPDATE schedules SET stored_us=?, due_us=COALESCE(due_us, ?), "
                           f"interaction_id=?, facts={KNOWN} WHERE record_id=? AND facts={PENDING}",
                           [(to_us(c), to_us(d), iid, rid) for rid, c, d, iid in known])
            tx.executemany(f"UPDATE schedules SET facts={NONE} WHERE record_id=? AND facts={PENDING}",
                           [(rid,) for rid in missing])

    def count(self) -> int:
        """Number of schedules in the index."""
        return int(self.store.execute("SELECT COUNT(*) FROM schedules")[0][0])
