"""The base eventsourcing Application of every Lethe service.

Each service owns one event store: an ``eventsourcing`` process recorder (events plus tracking
records for exactly-once following) on SQLite (``<data dir>/<service>/events.db``) or PostgreSQL
(schema ``lethe_<service>``), always with the library's AES-256-GCM event cipher
(``eventsourcing.cryptography:AESCipher``, key ``event-cipher/<service>`` from the key source).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from eventsourcing.application import Application
from eventsourcing.persistence import ProcessRecorder

from shared.config import Settings
from shared.keysource import FileKeySource

log = logging.getLogger("lethe")
UNDECODABLE = "Undecodable"  # event_type of a stored event that does not decrypt or decode
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_BASE_FIELDS = ("originator_id", "originator_version", "timestamp")


def persistence_env(settings: Settings, service: str, cipher_key: bytes) -> dict[str, str]:
    """eventsourcing environment for a service's store (the only place persistence is chosen)."""
    env = {
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": base64.b64encode(cipher_key).decode("ascii"),
        "AGGREGATE_CACHE_MAXSIZE": "10000",
    }
    if settings.persistence == "postgres":
        from shared.store import ensure_schema

        ensure_schema(settings, settings.schema(service))
        env.update(settings.postgres)
        env.update({"PERSISTENCE_MODULE": "eventsourcing.postgres",
                    "POSTGRES_SCHEMA": settings.schema(service), "CREATE_TABLE": "y",
                    "POSTGRES_POOL_SIZE": "4", "POSTGRES_MAX_OVERFLOW": "4"})
    else:
        path = settings.service_dir(service) / "events.db"
        env.update({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path),
                    "SQLITE_LOCK_TIMEOUT": "30"})
    return env


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class LoggedEvent:
    """One decoded entry of a service's log (what ``ReadEvents`` streams)."""

    position: int
    originator_id: str
    originator_version: int
    event_type: str
    recorded_at: dt.datetime
    attributes: dict[str, Any]
    stored_state: bytes
    topic: str

    def attributes_json(self) -> str:
        """The attributes as compact, key-sorted JSON."""
        return json.dumps(self.attributes, sort_keys=True, separators=(",", ":"))


def event_attributes(event: Any) -> dict[str, Any]:
    """A domain event's own attributes as JSON-able values (without id, version, timestamp)."""
    return {k: _jsonable(v) for k, v in event.__dict__.items() if k not in _BASE_FIELDS}


def event_type(event: Any) -> str:
    """A domain event's past-tense name, e.g. ``RecordStored``."""
    return type(event).__qualname__.split(".")[-1]


class ServiceLock:
    """Re-entrant lock around a service's read-modify-write use cases.

    Within a process it is a threading.RLock (gRPC runs handlers on a thread pool). On PostgreSQL
    it also holds a session advisory lock (``pg_advisory_lock``) keyed by the service's schema, so
    that replicas of a service take turns. ``on_acquire`` runs at each outermost acquisition: the
    application catches up its projections with what other replicas recorded meanwhile.
    """

    def __init__(self, settings: Settings, service: str, scope: str = "") -> None:
        """``scope`` names a second lock of the same service (its own advisory lock key)."""
        self._local = threading.RLock()
        self._depth = 0
        self._pg: Any = None
        self.on_acquire: Any = lambda: None
        if settings.persistence == "postgres":
            import psycopg

            pg = settings.postgres
            self._pg = psycopg.connect(host=pg.get("POSTGRES_HOST"), port=pg.get("POSTGRES_PORT"),
                                       dbname=pg.get("POSTGRES_DBNAME"), user=pg.get("POSTGRES_USER"),
                                       password=pg.get("POSTGRES_PASSWORD") or None, autocommit=True)
            name = settings.schema(service) + (f"/{scope}" if scope else "")
            digest = hashlib.sha256(name.encode()).digest()
            self._key = int.from_bytes(digest[:8], "big", signed=True)

    def __enter__(self) -> ServiceLock:
        self._local.acquire()
        self._depth += 1
        if self._depth == 1:
            try:
                if self._pg is not None:
                    self._pg.execute("SELECT pg_advisory_lock(%s)", (self._key,))
                self.on_acquire()
            except BaseException:
                self._release_outer()
                raise
        return self

    def _release_outer(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._pg is not None:
            self._pg.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        self._local.release()

    def __exit__(self, *_: object) -> None:
        self._release_outer()

    def close(self) -> None:
        """Close the advisory-lock connection."""
        if self._pg is not None:
            self._pg.close()


class LetheApplication(Application[uuid.UUID]):
    """Base class: builds the encrypted store from Settings and reads the log back in order.

    Subclasses set ``service`` and add use-case methods. ``lock`` serialises a service's
    read-modify-write use cases (gRPC runs handlers on a thread pool).
    """

    service: ClassVar[str] = ""

    def __init__(self, settings: Settings, keys: FileKeySource) -> None:
        self.settings = settings
        self.keys = keys
        self.lock = ServiceLock(settings, self.service)
        self.lock.on_acquire = self.on_lock_acquired
        self._projected = 0
        self.recorded_position = 0  # log position of the event on_recorded is handed
        self._projection_lock = threading.Lock()
        self.closed = False  # set by close(): background threads stop quietly then
        cipher_key = keys.get_or_create(f"event-cipher/{self.service}")
        super().__init__(env=persistence_env(settings, self.service, cipher_key))

    def close(self) -> None:  # noqa: D102
        self.closed = True
        super().close()
        self.lock.close()

    def on_lock_acquired(self) -> None:
        """Runs when a use case takes the service lock: catch up with other replicas' events."""
        self.refresh()

    def construct_recorder(self) -> ProcessRecorder:  # type: ignore[override]
        """A process recorder, so followers can record tracking atomically with their events."""
        return self.factory.process_recorder()

    def _record(self, processing_event: Any) -> Any:
        """Record events (and tracking), then bring the projections up to date."""
        recordings = super()._record(processing_event)
        self.refresh()
        return recordings

    def on_recorded(self, event: Any) -> None:
        """Hook: called once for every event of the log, in log order (projections update here),
        whichever replica recorded it."""

    def refresh(self, page: int = 1000) -> None:
        """Feed the events recorded since the last call, in order, to :meth:`on_recorded`."""
        if type(self).on_recorded is LetheApplication.on_recorded:
            return  # no projections
        with self._projection_lock:
            while True:
                notes = self.recorder.select_notifications(start=self._projected, limit=page,
                                                           inclusive_of_start=False)
                if not notes:
                    return
                for note in notes:
                    try:
                        event = self.mapper.to_domain_event(note)
                    except Exception:  # noqa: BLE001 - a tampered or forged row: stay up, alarm
                        log.error("event %d of the %s log does not decode; run lethe audit verify",
                                  note.id, self.service)
                    else:
                        self.recorded_position = note.id  # the event's log position, for on_recorded
                        self.on_recorded(event)
                    self._projected = note.id

    rebuild_projections = refresh

    def max_position(self) -> int:
        """Position of the last event in the log (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    def read_events(self, after: int = 0, limit: int = 0, page: int = 500) -> Iterator[LoggedEvent]:
        """Yield decoded events with position > ``after``, in order; ``limit`` 0 means all.

        Memory stays flat: the log is read in pages of ``page`` notifications.
        """
        sent = 0
        while True:
            size = page if not limit else min(page, limit - sent)
            if size <= 0:
                return
            notes = self.recorder.select_notifications(start=after, limit=size,
                                                       inclusive_of_start=False)
            if not notes:
                return
            for note in notes:
                try:
                    event = self.mapper.to_domain_event(note)
                except Exception:  # noqa: BLE001 - tampered or forged: show it, never hide it
                    yield LoggedEvent(position=note.id, originator_id=str(note.originator_id),
                                      originator_version=note.originator_version,
                                      event_type=UNDECODABLE, recorded_at=_EPOCH, attributes={},
                                      stored_state=note.state, topic=note.topic)
                    after = note.id
                    sent += 1
                    continue
                yield LoggedEvent(position=note.id, originator_id=str(note.originator_id),
                                  originator_version=note.originator_version,
                                  event_type=event_type(event), recorded_at=event.timestamp,
                                  attributes=event_attributes(event),
                                  stored_state=note.state, topic=note.topic)
                after = note.id
                sent += 1
