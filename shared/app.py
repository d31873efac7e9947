"""The base eventsourcing Application of every Lethe service.

Each service owns one event store: an ``eventsourcing`` process recorder (events plus tracking
records for exactly-once following) on SQLite (``<data dir>/<service>/events.db``) or PostgreSQL
(schema ``lethe_<service>``), always with the library's AES-256-GCM event cipher
(``eventsourcing.cryptography:AESCipher``, key ``event-cipher/<service>`` from the key source).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from eventsourcing.application import Application
from eventsourcing.persistence import ProcessRecorder

from shared.config import Settings
from shared.keysource import FileKeySource

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


class LetheApplication(Application[uuid.UUID]):
    """Base class: builds the encrypted store from Settings and reads the log back in order.

    Subclasses set ``service`` and add use-case methods. ``lock`` serialises a service's
    read-modify-write use cases (gRPC runs handlers on a thread pool).
    """

    service: ClassVar[str] = ""

    def __init__(self, settings: Settings, keys: FileKeySource) -> None:
        self.settings = settings
        self.keys = keys
        self.lock = threading.RLock()
        cipher_key = keys.get_or_create(f"event-cipher/{self.service}")
        super().__init__(env=persistence_env(settings, self.service, cipher_key))

    def construct_recorder(self) -> ProcessRecorder:  # type: ignore[override]
        """A process recorder, so followers can record tracking atomically with their events."""
        return self.factory.process_recorder()

    def _record(self, processing_event: Any) -> Any:
        """Record events (and tracking), then let the service update its projections."""
        recordings = super()._record(processing_event)
        for recording in recordings:
            self.on_recorded(recording.domain_event)
        return recordings

    def on_recorded(self, event: Any) -> None:
        """Hook: called for every event after it was recorded (projections update here)."""

    def rebuild_projections(self, page: int = 1000) -> None:
        """Feed every recorded event, in order, to :meth:`on_recorded` (at start-up)."""
        after = 0
        while True:
            notes = self.recorder.select_notifications(start=after, limit=page,
                                                       inclusive_of_start=False)
            if not notes:
                return
            for note in notes:
                self.on_recorded(self.mapper.to_domain_event(note))
            after = notes[-1].id

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
                event = self.mapper.to_domain_event(note)
                yield LoggedEvent(position=note.id, originator_id=str(note.originator_id),
                                  originator_version=note.originator_version,
                                  event_type=event_type(event), recorded_at=event.timestamp,
                                  attributes=event_attributes(event),
                                  stored_state=note.state, topic=note.topic)
                after = note.id
                sent += 1
