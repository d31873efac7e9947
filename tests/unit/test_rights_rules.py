"""Rights rules: deadlines per law, access export contents, erasure that resumes after faults."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.rights.application import RightsApplication
from shared.config import Settings
from shared.errors import InvalidArgument, Unavailable
from shared.gen.lethe.v1 import common_pb2, events_pb2
from shared.ids import stable_id
from shared.keysource import FileKeySource
from shared.policy import add_months, load_policy

UTC = dt.timezone.utc


@pytest.mark.parametrize("received,due", [
    (dt.datetime(2026, 1, 31, tzinfo=UTC), dt.datetime(2026, 2, 28, tzinfo=UTC)),
    (dt.datetime(2028, 1, 31, tzinfo=UTC), dt.datetime(2028, 2, 29, tzinfo=UTC)),  # leap year
    (dt.datetime(2026, 12, 15, tzinfo=UTC), dt.datetime(2027, 1, 15, tzinfo=UTC)),
    (dt.datetime(2026, 3, 31, tzinfo=UTC), dt.datetime(2026, 4, 30, tzinfo=UTC)),
])
def test_gdpr_deadline_is_one_calendar_month(received: dt.datetime, due: dt.datetime) -> None:
    assert load_policy().request_due("gdpr", received) == due


def test_gdpr_extension_adds_two_months_and_ccpa_counts_45_plus_45_days() -> None:
    policy = load_policy()
    t = dt.datetime(2026, 11, 30, tzinfo=UTC)
    assert policy.request_due("gdpr", t, extended=True) == dt.datetime(2027, 2, 28, tzinfo=UTC)
    assert policy.request_due("ccpa", t) == t + dt.timedelta(days=45)
    assert policy.request_due("ccpa", t, extended=True) == t + dt.timedelta(days=90)
    assert add_months(dt.datetime(2027, 11, 30, tzinfo=UTC), 3) == dt.datetime(2028, 2, 29, tzinfo=UTC)


class FakeVaultLog:
    """The vault's event log as a gRPC channel: ``ReadEvents`` over an in-memory list."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.down = False

    def append(self, event_type: str, **attributes: Any) -> None:
        self.events.append((event_type, attributes))

    def release(self, hold_id: str) -> None:
        """Retention's ``HoldReleased`` of ``hold_id`` (its aggregate id is a uuid5 of it)."""
        self.append("HoldReleased", released_at="2026-12-01T00:00:00+00:00",
                    _originator=str(stable_id("hold", hold_id)))

    def unary_stream(self, *_: Any, **__: Any) -> Any:
        def call(request: Any, timeout: float = 0) -> list[Any]:
            if self.down:
                raise Unavailable("vault is unavailable")
            after, limit = request.after_position, request.limit or len(self.events)
            return [events_pb2.ReadEventsResponse(event=common_pb2.LogEvent(
                        position=i + 1, originator_id=attrs.get("_originator", str(uuid.uuid4())),
                        event_type=kind, attributes_json=json.dumps(
                            {k: v for k, v in attrs.items() if k != "_originator"})))
                    for i, (kind, attrs) in enumerate(self.events) if i + 1 > after][:limit]
        return call

    unary_unary = unary_stream


class FakeDownstream:
    """Stands in for vault and retention; can be made unavailable to test resumption."""

    def __init__(self) -> None:
        self.down = False
        self.shreds: list[str] = []  # every ShredSubject request id, derived ones included
        self.kept: dict[str, list[str]] = {}  # request id -> categories it kept
        self.through: dict[str, int] = {}
        self.blockers: dict[str, Any] = {"blockers": [], "preserved": [], "erasable": []}
        self.log = FakeVaultLog()
        self.retention_log = FakeVaultLog()
        self.lock = threading.Lock()

    @property
    def primary(self) -> list[str]:
        """The shreds of requests themselves, not their closing (``:final``) shreds."""
        return [s for s in self.shreds if not s.endswith(":final")]

    def store(self, subject_ref: str) -> None:
        """The vault stored a record of the subject."""
        self.log.append("RecordStored", subject_ref=subject_ref)

    def export_subject(self, subject_ref: str, request_id: str) -> list[dict[str, Any]]:
        t = dt.datetime(2026, 11, 1, tzinfo=UTC)
        return [{"record_id": "r1", "interaction_id": "i1", "category": "user.content",
                 "form": "original", "region": "EU", "received_at": t, "stored_at": t,
                 "content": json.dumps({"prompt": "generated prompt", "response": "ok"}).encode()}]

    def shred_subject(self, subject_ref: str, request_id: str, keep: tuple[str, ...] = (),
                      through_generation: int = 0) -> None:
        if self.down:
            raise Unavailable("vault is unavailable")
        assert re.fullmatch(r"[A-Za-z0-9._:-]{1,128}", request_id), "the vault refuses this id"
        with self.lock:  # the vault is idempotent by request id, like the real one
            if request_id not in self.shreds:
                self.shreds.append(request_id)
                self.kept[request_id] = list(keep)
                self.through[request_id] = through_generation
                self.log.append("SubjectShredded", subject_ref=subject_ref, request_id=request_id,
                                generation=1, kept_categories=list(keep),
                                erased_at=dt.datetime.now(UTC).isoformat())

    def erasure_blockers(self, subject_ref: str) -> dict[str, Any]:
        if self.down:
            raise Unavailable("retention is unavailable")
        return self.blockers

    def list_schedules(self, subject_ref: str) -> list[dict[str, Any]]:
        return []


@pytest.fixture()
def rights(tmp_path: Path) -> tuple[RightsApplication, FakeDownstream]:
    down = FakeDownstream()
    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys")
    app = RightsApplication(settings, FileKeySource(settings.key_dir), down, lambda: down.log,
                            lambda: down.retention_log)
    yield app, down
    app.close()


def test_access_export_carries_what_art_15_lists(rights) -> None:
    app, _ = rights
    view, export = app.submit("req-1", "access", "acct-generated-1")
    doc = json.loads(export)
    assert view.state == "fulfilled"
    for key in ("purposes", "categories", "recipients", "transfers", "source", "records"):
        assert key in doc
    assert doc["interactions"][0]["content"]["prompt"] == "generated prompt"
    assert doc["categories"][0]["retention"] == "30 days"


def test_an_erasure_that_hit_an_outage_finishes_after_it(rights) -> None:
    app, down = rights
    down.down = True
    view, _ = app.submit("erase-1", "erasure", "acct-generated-2")
    assert app.resume() == 0 and app.get("erase-1").state == "in_progress"
    down.down = False
    assert app.resume() == 1
    assert app.get("erase-1").state == "fulfilled"
    assert down.shreds == ["erase-1", "erase-1:final"]
    assert app.resume() == 0  # nothing left to do, nothing done twice


def test_a_retry_with_the_same_request_id_returns_the_same_request(rights) -> None:
    app, _ = rights
    first, _ = app.submit("obj-1", "objection", "acct-generated-3", purpose="model-training")
    again, _ = app.submit("obj-1", "objection", "acct-generated-3", purpose="model-training")
    assert first == again and first.state == "fulfilled"


def test_bad_requests_are_refused(rights) -> None:
    app, _ = rights
    with pytest.raises(InvalidArgument):
        app.submit("x", "forget-me", "acct-1")
    with pytest.raises(InvalidArgument):
        app.submit("x", "objection", "acct-1", purpose="marketing")
    with pytest.raises(InvalidArgument):
        app.submit("x", "access", "acct-1", law="pipeda")


def test_overdue_requests_are_listed_first(rights) -> None:
    app, down = rights
    down.down = True
    app.submit("e-old", "erasure", "acct-generated-4")
    app.submit("e-new", "erasure", "acct-generated-5")
    late = dt.datetime.now(UTC) + dt.timedelta(days=40)
    views = app.list()
    assert [v.request_id for v in views] == ["e-old", "e-new"]
    assert all(v.overdue(late) for v in views)


def test_an_extension_is_granted_once_with_the_legal_extra_time(rights) -> None:
    app, down = rights
    down.down = True
    view, _ = app.submit("e-ext", "erasure", "acct-generated-6", law="ccpa")
    extended = app.extend("e-ext", "complex request")
    assert extended.state == "extended"
    assert extended.due_at == view.received_at + dt.timedelta(days=90)
    with pytest.raises(Exception) as exc:
        app.extend("e-ext", "again")
    assert getattr(exc.value, "reason", "") == "ALREADY_EXTENDED"
    down.down = False
    app.resume()
    assert app.get("e-ext").state == "fulfilled"


def _blocker(reason: str, categories: list[str], hold_id: str = "h1") -> dict[str, Any]:
    return {"hold_id": hold_id, "reason": reason,
            "legal_basis": load_policy().hold_reason(reason).legal_basis, "reference": "case-1",
            "categories": categories, "records": 1}


def test_an_erasure_under_legal_hold_is_denied_with_the_exemption(rights) -> None:
    app, down = rights
    cats = ["system.operations", "user.content"]
    down.blockers = {"blockers": [_blocker("litigation", cats)], "preserved": cats, "erasable": []}
    app.submit("e-held", "erasure", "acct-generated-7")
    app.resume()
    view = app.get("e-held")
    assert view.state == "denied" and "litigation" in view.reason
    assert "GDPR Art. 17(3)(e)" in view.reason
    assert down.shreds == []


def test_a_category_wide_hold_does_not_block_an_erasure(rights) -> None:
    app, down = rights  # retention answers no blockers for a category-wide hold
    app.submit("e-cat", "erasure", "acct-generated-8")
    app.resume()
    assert app.get("e-cat").state == "fulfilled"


def test_a_hold_on_metadata_erases_the_rest_now_and_the_metadata_once_released(rights) -> None:
    app, down = rights
    down.blockers = {"blockers": [_blocker("security_investigation", ["system.operations"])],
                     "preserved": ["system.operations"], "erasable": ["user.content"]}
    app.submit("e-part", "erasure", "acct-generated-9")
    app.resume()
    view = app.get("e-part")
    assert view.state == "fulfilled" and view.preserved_categories == ("system.operations",)
    assert view.held_pending and "partially fulfilled" in view.reason
    assert "GDPR Art. 17(3)(b)" in view.reason and "system.operations" in view.reason
    assert down.kept["e-part"] == down.kept["e-part:final"] == ["system.operations"]
    down.retention_log.append("HoldPlaced", hold_id="h2")
    down.retention_log.release("h9")  # another hold: nothing asked, nothing shredded
    app.resume()
    assert "e-part:held" not in down.shreds and app.get("e-part").held_pending
    down.blockers = {"blockers": [_blocker("security_investigation", ["system.operations"], "h2")],
                     "preserved": ["system.operations"], "erasable": []}
    down.retention_log.release("h1")  # the last blocker, but retention now names h2: wait
    app.resume()
    assert "e-part:held" not in down.shreds and app.get("e-part").held_pending
    down.blockers = {"blockers": [], "preserved": [], "erasable": ["system.operations"]}
    down.retention_log.release("h2")
    app.resume()
    assert down.kept["e-part:held"] == [] and down.through["e-part:held"] == 1
    assert not app.get("e-part").held_pending
    app.resume()
    assert down.shreds.count("e-part:held") == 1


def test_the_request_closes_at_the_closing_shreds_cut_off(rights) -> None:
    app, down = rights
    app.submit("e-cut", "erasure", "acct-generated-10")
    app.resume()
    cut = json.loads(json.dumps(down.log.events[-1][1]))["erased_at"]
    assert down.log.events[-1][1]["request_id"] == "e-cut:final"
    assert app.get("e-cut").closed_at == dt.datetime.fromisoformat(cut)
