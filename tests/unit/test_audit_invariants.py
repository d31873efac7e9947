"""Each invariant of ``lethe audit verify`` catches what it promises, and only that.

One consistent world (two subjects: one accessed and partly expired, one erased; a gateway
re-identification) passes every invariant. Then, for each invariant, a tamper of that world (an
event added, or one replaced in place so positions stay gap-free) makes exactly that invariant
fail, and the report names it. Every invariant in ``INVARIANTS`` must have a tamper here, and
every promise it quotes must be in README.md.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared.audit import INVARIANTS, Entry, Report, check

REPO = Path(__file__).resolve().parents[2]
T0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
NOW = T0 + dt.timedelta(days=10)
A, B = "sr_" + "a" * 32, "sr_" + "b" * 32
KINDS = [("user.content", "original"), ("user.content", "redacted"),
         ("system.operations", "metadata"), ("user.contact", "contact")]


class World:
    """Logs built in order, with gap-free positions and increasing times."""

    def __init__(self) -> None:
        self.logs: dict[str, list[Entry]] = {s: [] for s in (
            "ingestion", "anonymization", "vault", "retention", "rights", "gateway")}
        self.minutes = 0
        self.live = {5: [2]}  # bucket -> live key versions

    def add(self, service: str, event: str, originator: str, position: int | None = None,
            **attrs: Any) -> None:
        self.minutes += 1
        log = self.logs[service]
        log.append(Entry(service, position or len(log) + 1, event, originator, 1,
                         T0 + dt.timedelta(minutes=self.minutes), attrs))

    def interaction(self, subject: str, name: str, kinds: list[tuple[str, str]]) -> list[str]:
        rids = [f"{name}-{form}" for _, form in kinds]
        for rid, (category, form) in zip(rids, kinds, strict=True):
            self.add("vault", "RecordStored", rid, subject_ref=subject, generation=1,
                     category=category, form=form)
            self.add("retention", "ScheduleCreated", rid, subject_ref=subject, category=category,
                     form=form, state="scheduled", generation=1)
        self.add("ingestion", "InteractionIngested", name, subject_ref=subject, record_ids=rids)
        return rids

    def request(self, request_id: str, kind: str, subject: str, due_days: int = 30,
                outcome: str | None = "RequestFulfilled", **extra: Any) -> None:
        self.add("rights", "RequestReceived", request_id, request_id=request_id, kind=kind,
                 subject_ref=subject, due_at=(T0 + dt.timedelta(days=due_days)).isoformat())
        if outcome:
            self.add("rights", outcome, request_id, **extra)

    def replace(self, service: str, event: str, originator: str) -> None:
        """Replace that event in place by one no invariant reads (positions stay gap-free)."""
        log = self.logs[service]
        n = next(i for i, e in enumerate(log) if (e.event, e.originator_id) == (event, originator))
        e = log[n]
        log[n] = Entry(service, e.position, "SweepCompleted", "sweep-x", 1, e.recorded_at, {})

    def report(self) -> Report:
        return check(self.logs, NOW, lambda bucket: self.live[bucket])


def world() -> World:
    w = World()
    erased = w.interaction(A, "ia", KINDS)
    w.interaction(B, "ib", KINDS[:3])
    w.request("access-1", "access", B)
    w.add("vault", "RecordRead", "ib-original", purpose="access", request_id="access-1")
    w.request("erase-1", "erasure", A)
    w.add("vault", "SubjectShredded", "keyring-a", subject_ref=A, request_id="erase-1",
          generation=1, kept_categories=[], buckets_rotated=[[1, 5, 2]])
    for rid in erased:
        w.add("retention", "ScheduleClosedByErasure", rid, request_id="erase-1")
    for rid, aggregated in (("ib-original", False), ("ib-redacted", True)):
        w.add("retention", "RecordExpired", rid, sweep_id="s1", aggregated=aggregated, purged=True)
        w.add("vault", "RecordPurged", rid, reason="expired", request_id="s1")
    w.add("gateway", "ResponseReidentified", "re-1", request_id=str(uuid.uuid4()),
          entity_counts={"EMAIL_ADDRESS": 2, "PERSON": 1}, streamed=True,
          originator_topic="services.gateway.record:Reidentification")
    return w


def _next(w: World, service: str) -> int:
    return len(w.logs[service]) + 1


TAMPERS: dict[str, Callable[[World], None]] = {
    "LOG_GAP": lambda w: w.add("rights", "RequestReceived", "access-2",
                               position=_next(w, "rights") + 1, request_id="access-2",
                               kind="access", subject_ref=B, due_at=NOW.isoformat()),
    "EVENT_UNDECODABLE": lambda w: w.add("vault", "Undecodable", str(uuid.uuid4())),
    "PII_IN_EVENT": lambda w: w.add("vault", "RecordPurged", "ib-metadata",
                                    reason="asked by bob@example.org", request_id="r"),
    "REIDENTIFICATION_HOLDS_DATA": lambda w: w.add(
        "gateway", "ResponseReidentified", "re-2", request_id=str(uuid.uuid4()),
        entity_counts={"Jane Roe": 1}, streamed=False),
    "RECORD_WITHOUT_SCHEDULE": lambda w: w.add("vault", "RecordStored", "ib-contact",
                                               subject_ref=B, generation=1,
                                               category="user.contact", form="contact"),
    "SCHEDULE_WITHOUT_RECORD": lambda w: w.add("retention", "ScheduleCreated", "ghost",
                                               subject_ref=B, category="user.content",
                                               form="original", state="scheduled", generation=1),
    "INGESTED_NOT_STORED": lambda w: w.add("ingestion", "InteractionIngested", "ic",
                                           subject_ref=B, record_ids=["ic-original"]),
    "RECORD_KIND_UNKNOWN": lambda w: w.interaction(B, "id", [("user.contact", "original")]),
    "EXPIRED_NOT_PURGED": lambda w: w.add("retention", "RecordExpired", "ib-metadata",
                                          sweep_id="s2", aggregated=False, purged=True),
    "AGGREGATED_NOT_REDACTED": lambda w: (
        w.add("retention", "RecordExpired", "ib-metadata", sweep_id="s2", aggregated=True,
              purged=True),
        w.add("vault", "RecordPurged", "ib-metadata", reason="expired", request_id="s2")),
    "ERASURE_INCOMPLETE": lambda w: w.request("erase-2", "erasure", B),
    "ERASED_SCHEDULE_OPEN": lambda w: w.replace("retention", "ScheduleClosedByErasure",
                                                "ia-contact"),
    "READ_AFTER_ERASURE": lambda w: w.add("vault", "RecordRead", "ia-metadata", purpose="access",
                                          request_id="access-3"),
    "ERASED_KEY_ALIVE": lambda w: w.live.update({5: [1, 2]}),  # the old bucket key survived
    "REQUEST_OVERDUE": lambda w: w.request("object-1", "objection", B, due_days=9, outcome=None),
}


def _failing(report: Report) -> set[str]:
    return {r.invariant.name for r in report.results if r.status == "fail"}


def test_every_invariant_has_a_tamper_here() -> None:
    assert [i.name for i in INVARIANTS] == list(dict.fromkeys(i.name for i in INVARIANTS))
    assert set(TAMPERS) == {i.name for i in INVARIANTS}


def test_the_consistent_world_passes_every_invariant_and_each_reads_events() -> None:
    report = world().report()
    assert report.ok and report.violations == []
    for r in report.results:
        assert r.status == "pass" and r.checked > 0, r.invariant.name


@pytest.mark.parametrize("name", list(TAMPERS))
def test_a_tamper_fails_exactly_its_invariant_and_the_report_names_it(name: str) -> None:
    w = world()
    TAMPERS[name](w)
    report = w.report()
    assert _failing(report) == {name}
    assert {v.kind for v in report.violations} == {name}
    listed = {d["name"]: d for d in report.as_list()}
    assert listed[name]["status"] == "fail" and listed[name]["violations"] >= 1
    assert [d["name"] for d in report.as_list()] == [i.name for i in INVARIANTS]
    assert not report.ok


def test_without_the_key_source_erased_key_alive_is_skipped_not_passed() -> None:
    w = world()
    TAMPERS["ERASED_KEY_ALIVE"](w)
    report = check(w.logs, NOW, None)
    skipped = [r for r in report.results if r.status == "skipped"]
    assert [r.invariant.name for r in skipped] == ["ERASED_KEY_ALIVE"] and report.ok


@pytest.mark.parametrize("attrs", [
    {"entity_counts": {"EMAIL_ADDRESS": "jane@example.org"}},  # a value instead of a count
    {"entity_counts": {"EMAIL_ADDRESS": 1}, "surrogate": "Person_3f2a"},  # an extra attribute
    {"entity_counts": {"EMAIL_ADDRESS": -1}},
    {"entity_counts": {"EMAIL_ADDRESS": True}},  # a bool is no count
    {"entity_counts": {"EMAIL_ADDRESS": 1}, "request_id": "acct-1234"},  # not a random id
    {"entity_counts": ["EMAIL_ADDRESS"]},
])
def test_a_reidentification_holding_anything_but_counts_is_reported(attrs: dict[str, Any]) -> None:
    w = world()
    w.add("gateway", "ResponseReidentified", "re-3",
          **{"request_id": str(uuid.uuid4()), "streamed": False, **attrs})
    assert "REIDENTIFICATION_HOLDS_DATA" in _failing(w.report())


def test_an_extended_deadline_is_not_overdue_until_it_passes() -> None:
    w = world()
    w.request("object-1", "objection", B, due_days=9, outcome="DeadlineExtended",
              new_due_at=(T0 + dt.timedelta(days=60)).isoformat())
    assert w.report().ok
    w.add("rights", "DeadlineExtended", "object-1", new_due_at=(T0 + dt.timedelta(days=9)).isoformat())
    assert _failing(w.report()) == {"REQUEST_OVERDUE"}


def test_an_erasure_fulfilled_on_an_earlier_shred_is_complete() -> None:
    w = world()
    w.request("erase-2", "erasure", A, outcome="NothingNewToErase", previous_request_id="erase-1")
    w.add("rights", "RequestFulfilled", "erase-2")
    assert w.report().ok


def _readme_text() -> str:
    return re.sub(r"\s+", " ", (REPO / "README.md").read_text())


@pytest.mark.parametrize("invariant", INVARIANTS, ids=lambda i: i.name)
def test_each_invariant_quotes_a_promise_that_readme_makes(invariant: Any) -> None:
    readme = _readme_text()
    text = (REPO / "README.md").read_text()  # a heading, or a paragraph's bold lead
    headings = re.findall(r"^#+ (.+)$", text, re.M) + re.findall(r"\*\*([^*]+?)\.\*\*", text)
    heading = invariant.promise.split(":", 1)[0]
    assert any(h.startswith(heading) for h in headings), heading
    quotes = re.findall(r'"([^"]+)"', invariant.promise)
    assert quotes, "the promise quotes README.md"
    for quote in quotes:
        for piece in quote.split(" ... "):
            assert piece in readme, piece


def test_an_invariant_counts_each_event_it_reads_once() -> None:
    w = world()
    report = {r.invariant.name: r for r in w.report().results}
    total = sum(len(log) for log in w.logs.values())
    assert report["LOG_GAP"].checked == total
    stored = len([e for e in w.logs["vault"] if e.event == "RecordStored"])
    scheduled = len([e for e in w.logs["retention"] if e.event == "ScheduleCreated"])
    assert report["RECORD_WITHOUT_SCHEDULE"].checked == stored + scheduled
    assert report["REIDENTIFICATION_HOLDS_DATA"].checked == 1
    assert w.report().results[0].as_dict()["checked_events"] == total
    from shared.audit import Facts
    from shared.audit.model import ANY
    facts = Facts(w.logs, NOW)
    vault = len(w.logs["vault"])
    assert facts.count([("vault", ANY), ("vault", "RecordStored")]) == vault
    assert facts.count([(ANY, "RecordStored"), ("retention", "ScheduleCreated")]) == stored + scheduled
    assert facts.count([(ANY, ANY), ("vault", "RecordStored")]) == total


_PIECES = ["@", ".", "a", "Z", "0", "9", "198", "_", "-", "+", " ", "/", "ü", "example", "org"]


@pytest.mark.parametrize("value", [
    "bob@example.org", "mail: a.b+c@sub.example.co.uk, thanks", "203.0.113.77",
    "from 10.1.2.3 via proxy", ["x", {"deep": ["192.168.0.1"]}], {"k": {"note": "x@y.io"}}])
def test_an_email_or_ipv4_anywhere_in_an_event_is_reported(value: Any) -> None:
    w = world()
    w.add("vault", "RecordPurged", "ib-metadata", reason=value, request_id="r")
    assert _failing(w.report()) == {"PII_IN_EVENT"}


def test_the_pii_prefilter_decides_as_the_patterns_do() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from shared.audit import shape

    @settings(max_examples=3000, deadline=None)
    @given(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join))
    def same(value: str) -> None:
        expected = bool(shape._EMAIL.search(value) or shape._IPV4.search(value))
        assert shape._holds_pii(value) == expected

    same()
