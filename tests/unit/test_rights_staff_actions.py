"""Staff close requests the service cannot close itself: deny citing an exemption of the policy's
closed vocabulary, complete with a reason; both idempotent by their action id (AIP-155), both
refused on a closed request, and an erasure cannot be denied once its shred was ordered."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.rights.application import RightsApplication
from services.rights.domain import KINDS, LAWS, OPEN_STATES
from services.rights.exemptions import load_exemptions
from shared.config import Settings
from shared.errors import FailedPrecondition, InvalidArgument, LetheError, NotFound, Unavailable
from shared.keysource import FileKeySource
from shared.policy import PolicyError, load_policy
from tests.unit.test_rights_rules import FakeDownstream

ACCOUNT = "acct-generated-staff"
EXEMPTIONS = load_exemptions(load_policy().raw)


def _open(app: RightsApplication, down: FakeDownstream, kind: str, law: str = "gdpr",
          account: str = ACCOUNT) -> str:
    """A request of ``kind`` left open: the downstream services are down when it arrives."""
    rid = f"req-{uuid.uuid4()}"
    down.down = True
    if kind in ("access", "objection"):  # they end on receipt: the step after the save fails
        step = "_access" if kind == "access" else "_objection"
        setattr(app, step, lambda *_: (_ for _ in ()).throw(Unavailable("down")))
        with pytest.raises(Unavailable):
            app.submit(rid, kind, account, law, "model-training" if kind == "objection" else "")
        delattr(app, step)
    else:
        app.submit(rid, kind, account, law)
        app.resume()  # asks retention, which is down: nothing ordered yet
    down.down = False
    assert app.get(rid).state in OPEN_STATES
    return rid


def _events(app: RightsApplication, name: str) -> list[Any]:
    return [e for e in app.read_events() if e.event_type == name]


@pytest.fixture()
def rights(tmp_path: Path) -> Any:
    down = FakeDownstream()
    settings = Settings(data_dir=tmp_path / "var", key_dir=tmp_path / "keys")
    apps = []

    def start() -> RightsApplication:
        app = RightsApplication(settings, FileKeySource(settings.key_dir), down, lambda: down.log,
                                lambda: down.retention_log)
        apps.append(app)
        return app

    yield start, down
    for app in apps:
        app.close()


def test_a_denial_cites_the_exemption_records_one_event_and_leaves_the_queue(rights) -> None:
    start, down = rights
    app = start()
    rid = _open(app, down, "access")
    view = app.deny_request("deny-1", rid, "gdpr-12-5-manifestly-unfounded", "repeated request",
                            "console")
    assert view.state == "denied" and view.exemption == "gdpr-12-5-manifestly-unfounded"
    assert "Art. 12(5)" in view.reason and "repeated request" in view.reason
    assert rid not in [v.request_id for v in app.list()]
    assert rid in [v.request_id for v in app.list(include_closed=True)]
    (denied,) = _events(app, "RequestDenied")
    assert denied.attributes["exemption_key"] == "gdpr-12-5-manifestly-unfounded"
    assert denied.attributes["denied_by"] == "console" and denied.attributes["action_id"] == "deny-1"
    assert all(ACCOUNT not in e.attributes_json() for e in app.read_events())


def test_a_retried_denial_returns_the_first_answer_even_after_a_restart(rights) -> None:
    start, down = rights
    app = start()
    rid = _open(app, down, "access")
    first = app.deny_request("deny-1", rid, "gdpr-23-restriction", "restricted by law", "operator")
    assert app.deny_request("deny-1", rid, "gdpr-23-restriction", "restricted by law",
                            "operator") == first
    app.close()
    again = start()
    assert again.deny_request("deny-1", rid, "gdpr-23-restriction", "restricted by law",
                              "operator") == first
    assert rid not in [v.request_id for v in again.list()]
    assert len(_events(again, "RequestDenied")) == 1


def test_a_closed_request_refuses_another_denial_or_completion(rights) -> None:
    start, down = rights
    app = start()
    denied = _open(app, down, "access")
    app.deny_request("deny-1", denied, "gdpr-23-restriction", "restricted by law", "console")
    completed = _open(app, down, "access")
    app.complete_request("done-1", completed, "answered by post", "console")
    fulfilled, _ = app.submit("req-fulfilled", "access", ACCOUNT)
    for rid in (denied, completed, fulfilled.request_id):
        with pytest.raises(FailedPrecondition) as exc:
            app.deny_request("deny-2", rid, "gdpr-23-restriction", "restricted by law", "console")
        assert exc.value.reason == "REQUEST_CLOSED"
        with pytest.raises(FailedPrecondition) as exc:
            app.complete_request("done-2", rid, "answered by post", "console")
        assert exc.value.reason == "REQUEST_CLOSED"
    assert len(_events(app, "RequestDenied")) == 1


@pytest.mark.parametrize("exemption,reason,action,code", [
    ("no-such-exemption", "a reason", "a-1", "EXEMPTION_UNKNOWN"),
    ("", "a reason", "a-1", "EXEMPTION_UNKNOWN"),
    ("gdpr-23-restriction", "", "a-1", "REASON_INVALID"),
    ("gdpr-23-restriction", "   ", "a-1", "REASON_INVALID"),
    ("gdpr-23-restriction", "x" * 501, "a-1", "REASON_INVALID"),
    ("gdpr-23-restriction", "a reason", "", "REQUEST_ID_INVALID"),
    ("gdpr-23-restriction", "a reason", "a" * 129, "REQUEST_ID_INVALID"),
    ("ccpa-145-exemptions", "a reason", "a-1", "EXEMPTION_NOT_APPLICABLE"),  # another law
    ("gdpr-17-3-e-legal-claims", "a reason", "a-1", "EXEMPTION_NOT_APPLICABLE"),  # erasure only
])
def test_bad_denials_are_refused_and_change_nothing(rights, exemption: str, reason: str,
                                                    action: str, code: str) -> None:
    start, down = rights
    app = start()
    rid = _open(app, down, "access")
    with pytest.raises(InvalidArgument) as exc:
        app.deny_request(action, rid, exemption, reason, "console")
    assert exc.value.reason == code
    assert app.get(rid).state in OPEN_STATES and not _events(app, "RequestDenied")


def test_unknown_requests_are_not_found(rights) -> None:
    app = rights[0]()
    with pytest.raises(NotFound):
        app.deny_request("a-1", "no-such-request", "gdpr-23-restriction", "a reason", "console")
    with pytest.raises(NotFound):
        app.complete_request("a-1", "no-such-request", "a reason", "console")


def test_every_exemption_applies_exactly_to_its_own_law_and_kinds(rights) -> None:
    start, down = rights
    app = start()
    assert {e.law for e in EXEMPTIONS.values()} == set(LAWS)
    for law, kind in itertools.product(LAWS, KINDS):
        for key, entry in EXEMPTIONS.items():
            rid = _open(app, down, kind, law, account=f"acct-{law}-{kind}-{key}")
            try:
                view = app.deny_request(f"deny-{rid}", rid, key, "a reason", "console")
            except InvalidArgument as exc:
                assert exc.reason == "EXEMPTION_NOT_APPLICABLE"
                assert (entry.law, kind in entry.kinds) != (law, True)
            else:
                assert entry.law == law and kind in entry.kinds
                assert view.reason.endswith(f"({entry.reference})")


def test_an_erasure_can_be_denied_until_its_shred_is_ordered_and_never_after(rights) -> None:
    start, down = rights
    app = start()
    before = _open(app, down, "erasure")
    app.deny_request("deny-1", before, "gdpr-17-3-b-legal-obligation", "tax records", "console")
    app.resume()
    assert not down.shreds and app.get(before).state == "denied"

    after = _open(app, down, "erasure", account="acct-generated-other")

    def vault_down(*_: Any, **__: Any) -> None:
        raise Unavailable("vault is unavailable")

    shred, down.shred_subject = down.shred_subject, vault_down  # type: ignore[method-assign]
    app.resume()  # retention answers, the intent is recorded, the vault is down
    assert len(_events(app, "ErasureShredOrdered")) == 1
    with pytest.raises(FailedPrecondition) as exc:
        app.deny_request("deny-2", after, "gdpr-17-3-b-legal-obligation", "tax records", "console")
    assert exc.value.reason == "ERASURE_UNDER_WAY"
    with pytest.raises(FailedPrecondition) as exc:
        app.complete_request("done-2", after, "done by hand", "console")
    assert exc.value.reason == "ERASURE_COMPLETES_BY_SHRED"
    down.shred_subject = shred  # type: ignore[method-assign]
    app.resume()
    assert app.get(after).state == "fulfilled"


@pytest.mark.parametrize("blockers", ["none", "all", "some"])
def test_a_denial_while_the_erasure_asks_retention_wins_and_nothing_is_shredded(rights, blockers) -> None:
    start, down = rights
    app = start()
    rid = _open(app, down, "erasure")
    down.blockers = {
        "none": {"blockers": [], "preserved": [], "erasable": []},
        "all": {"blockers": [{"hold_id": "h1", "reason": "litigation", "legal_basis": "GDPR Art. 17(3)(e)",
                              "reference": "case-1", "categories": ["user.content"], "records": 1}],
                "preserved": ["user.content"], "erasable": []},
        "some": {"blockers": [{"hold_id": "h1", "reason": "security_investigation",
                               "legal_basis": "GDPR Art. 17(3)(b)", "reference": "case-1",
                               "categories": ["system.operations"], "records": 1}],
                 "preserved": ["system.operations"], "erasable": ["user.content"]}}[blockers]
    answer = down.erasure_blockers

    def deny_meanwhile(ref: str) -> Any:
        app.deny_request("deny-1", rid, "gdpr-12-5-manifestly-unfounded", "unfounded", "console")
        return answer(ref)

    down.erasure_blockers = deny_meanwhile  # type: ignore[method-assign]
    app.resume()
    app.resume()
    assert not down.shreds
    assert [e.attributes["denied_by"] for e in _events(app, "RequestDenied")] == ["console"]
    assert not _events(app, "ErasurePartial") and not _events(app, "ErasureShredOrdered")


def test_completion_records_its_reason_and_honours_an_objection(rights) -> None:
    start, down = rights
    app = start()
    access = _open(app, down, "access")
    objection = _open(app, down, "objection", account="acct-generated-objector")
    assert not _events(app, "ObjectionRecorded")
    a = app.complete_request("done-1", access, "export sent by registered post", "operator")
    o = app.complete_request("done-2", objection, "honoured by the training team", "console")
    assert (a.state, a.reason) == ("fulfilled", "export sent by registered post")
    assert o.state == "fulfilled"
    (recorded,) = _events(app, "ObjectionRecorded")
    assert recorded.attributes["purpose"] == "model-training"
    fulfilled = {e.attributes["action_id"]: e.attributes for e in _events(app, "RequestFulfilled")}
    assert fulfilled["done-1"]["completed_by"] == "operator"
    assert app.complete_request("done-2", objection, "honoured by the training team", "console") == o
    assert len(_events(app, "ObjectionRecorded")) == 1 and not app.list()


def test_a_failed_save_leaves_the_request_open_and_a_retry_closes_it_once(rights) -> None:
    start, down = rights
    app = start()
    rid = _open(app, down, "access")
    save = app.save

    def failing(*_: Any, **__: Any) -> Any:
        raise LetheError("store down")

    for action in (lambda: app.deny_request("deny-1", rid, "gdpr-23-restriction", "restricted", "c"),
                   lambda: app.complete_request("done-1", rid, "answered", "c")):
        app.save = failing  # type: ignore[method-assign]
        with pytest.raises(LetheError):
            action()
        app.save = save  # type: ignore[method-assign]
        assert app.get(rid).state in OPEN_STATES and rid in [v.request_id for v in app.list()]
    app.deny_request("deny-1", rid, "gdpr-23-restriction", "restricted", "c")
    app.deny_request("deny-1", rid, "gdpr-23-restriction", "restricted", "c")
    assert len(_events(app, "RequestDenied")) == 1


def test_a_policy_with_a_malformed_exemption_fails_at_start() -> None:
    good = {"key": "k", "law": "gdpr", "kinds": ["access"], "reference": "GDPR Art. 23"}
    assert load_exemptions({"request_exemptions": [good]})["k"].reference == "GDPR Art. 23"
    for bad in ({**good, "law": "hipaa"}, {**good, "kinds": ["sale"]}, {**good, "kinds": []}):
        with pytest.raises(PolicyError):
            load_exemptions({"request_exemptions": [bad]})
    with pytest.raises(PolicyError):
        load_exemptions({"request_exemptions": [good, good]})


@pytest.mark.parametrize("page_size", [1, 7, 20, 1000])
def test_the_queue_pages_load_only_their_requests(rights, page_size: int) -> None:
    start, down = rights
    app = start()
    ids = [_open(app, down, "access", account=f"acct-generated-{i}") for i in range(23)]
    app.deny_request("deny-x", ids[0], "gdpr-23-restriction", "restricted", "c")
    everything = [v.request_id for v in app.list(include_closed=True)]
    loads = []
    get = app._get
    app._get = lambda r: (loads.append(r), get(r))[1]  # type: ignore[method-assign]
    seen, token, pages = [], "", 0
    while True:
        views, token, total, overdue = app.list_page(True, page_size, token)
        assert total == 23 and overdue == 0 and len(views) <= page_size
        assert len(loads) == len(views)  # the page's requests, none other
        loads.clear()
        seen += [v.request_id for v in views]
        pages += 1
        if not token:
            break
    assert seen == everything and pages == -(-23 // page_size)
    open_views, _, open_total, _ = app.list_page(False, page_size)
    assert open_total == 22 and ids[0] not in [v.request_id for v in open_views]


def test_a_forged_page_token_is_refused(rights) -> None:
    app = rights[0]()
    for token in ("not-base64!", "bm9wZQ==", "MXxub3QtYS1kYXRlfHg="):
        with pytest.raises(InvalidArgument) as exc:
            app.list_page(True, 5, token)
        assert exc.value.reason == "PAGE_TOKEN_INVALID"
    with pytest.raises(InvalidArgument):
        app.list_page(True, -1)


def test_a_request_names_the_log_positions_of_exactly_its_events(rights) -> None:
    start, down = rights
    app = start()
    ids = [_open(app, down, "access", account=f"acct-generated-{i}") for i in range(3)]
    app.deny_request("deny-1", ids[1], "gdpr-23-restriction", "restricted", "c")
    app.close()
    again = start()  # rebuilt from the log
    log = list(again.read_events())
    for rid in ids:
        positions = again.get(rid).log_positions
        request = again._get(rid)
        assert [e.position for e in log if e.originator_id == str(request.id)] == list(positions)
        assert len(positions) == request.version


@pytest.mark.parametrize("name", ["RequestDenied", "RequestFulfilled"])
def test_v1_closing_events_written_before_staff_actions_still_decode(name: str) -> None:
    """Logs hold v1 RequestDenied/RequestFulfilled (no exemption key, caller or action id)."""
    import datetime as dt
    import json

    from eventsourcing.application import Application
    from eventsourcing.persistence import StoredEvent

    from services.rights.domain import DataSubjectRequest

    t = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    request = DataSubjectRequest(request_id="r", kind="access", subject_ref="sr_x", law="gdpr",
                                 received_at=t, due_at=t, purpose="")
    if name == "RequestDenied":
        request.deny(reason="legal hold: litigation", exemption="GDPR Art. 17(3)(e)", closed_at=t)
    else:
        request.fulfil(closed_at=t)
    mapper = Application().mapper
    stored = mapper.to_stored_event(request.collect_events()[-1])
    state = json.loads(stored.state)
    for field in ("exemption_key", "denied_by", "completed_by", "action_id", "reason", "class_version"):
        if field != "reason" or name == "RequestFulfilled":
            state.pop(field, None)
    old = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                      json.dumps(state).encode())
    event = mapper.to_domain_event(old)
    assert event.action_id == "" and event.closed_at == t
    if name == "RequestDenied":
        assert (event.exemption_key, event.denied_by, event.exemption) == ("", "", "GDPR Art. 17(3)(e)")
    else:
        assert (event.reason, event.completed_by) == ("", "")


def test_the_queue_counts_open_and_overdue_requests_from_the_projection(rights) -> None:
    """What the gauges read (lethe.requests.open / .overdue): every open request, one page loaded."""
    import datetime as dt

    start, down = rights
    app = start()
    ids = [_open(app, down, "access", account=f"acct-generated-{i}") for i in range(5)]
    app.deny_request("deny-1", ids[0], "gdpr-23-restriction", "restricted", "c")
    overdue = {ids[1], ids[2]}
    with app.lock:
        for rid in overdue:  # deadlines in the past, as the projection learns them from the log
            aggregate = str(app._get(rid).id)
            app.due[aggregate] = (dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc), rid)
    views, _, total, late = app.list_page(False, 1)
    assert (total, late) == (4, 2) and views[0].request_id in overdue
    assert [v.request_id for v in app.list()][:2] == sorted(overdue)
