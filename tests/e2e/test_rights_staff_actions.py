"""Staff deny and complete requests over gRPC, against the real services (``lethe up``).

Requests are left open the way they are in production: the vault is stopped, so an access request
cannot be answered and an erasure waits (retention cannot answer what blocks it either). Every identity calls
DenyRequest and CompleteRequest (only the operator and the console may; the others are refused and
the request stays open), bad input gets the right status with a message holding no personal data,
a replayed request id gets the first answer, and the CLI's ``lethe rights deny|complete`` do the same.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from faker import Faker
from grpc_status import rpc_status

from shared.gen.lethe.v1 import events_pb2, events_pb2_grpc, rights_pb2, rights_pb2_grpc
from shared.ids import stable_id
from shared.keysource import FileKeySource
from shared.tls import secure_channel
from tests.conftest import Deployment
from tests.e2e.test_authorization import EVERYONE, EXPECTED

pytestmark = pytest.mark.e2e
DENY, COMPLETE = "lethe.v1.RightsService/DenyRequest", "lethe.v1.RightsService/CompleteRequest"
GDPR_ANY = "gdpr-12-5-manifestly-unfounded"


def _address(dep: Deployment, service: str) -> str:
    return json.loads((dep.data_dir / "deployment.json").read_text())["services"][service]["address"]


def _stub(dep: Deployment, identity: str) -> Any:
    return rights_pb2_grpc.RightsServiceStub(
        secure_channel(_address(dep, "rights"), FileKeySource(dep.key_dir), identity, "rights"))


def _stop(dep: Deployment, service: str) -> None:
    pid = json.loads((dep.data_dir / "deployment.json").read_text())["services"][service]["pid"]
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def _open(operator: Any, kind: int, account: str) -> str:
    """Submit a request that stays open (its downstream service is stopped)."""
    rid = f"req-{uuid.uuid4()}"
    try:
        operator.SubmitRequest(rights_pb2.SubmitRequestRequest(request_id=rid, kind=kind,
                                                               account_id=account), timeout=60)
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.UNAVAILABLE
    return rid


def _state(operator: Any, rid: str) -> str:
    r = operator.GetRequest(rights_pb2.GetRequestRequest(request_id=rid), timeout=30).request
    return rights_pb2.RequestState.Name(r.state)


def _deny(stub: Any, rid: str, action: str = "", exemption: str = GDPR_ANY,
          reason: str = "repeated request") -> Any:
    return stub.DenyRequest(rights_pb2.DenyRequestRequest(
        request_id=action or str(uuid.uuid4()), subject_request_id=rid, exemption=exemption,
        reason=reason), timeout=30)


def _complete(stub: Any, rid: str, action: str = "", reason: str = "answered by post") -> Any:
    return stub.CompleteRequest(rights_pb2.CompleteRequestRequest(
        request_id=action or str(uuid.uuid4()), subject_request_id=rid, reason=reason), timeout=30)


def _refusal(call: Any) -> tuple[grpc.StatusCode, str, str]:
    """The status code, ErrorInfo reason and message of a refused call."""
    with pytest.raises(grpc.RpcError) as exc:
        call()
    status = rpc_status.from_call(exc.value)
    reason = ""
    if status is not None and status.details:
        from google.rpc import error_details_pb2

        info = error_details_pb2.ErrorInfo()
        status.details[0].Unpack(info)
        reason = info.reason
    return exc.value.code(), reason, exc.value.details() or ""


def test_a_finished_erasure_is_neither_denied_nor_completed(sqlite_deployment: Deployment) -> None:
    """Runs first, with every service up: the erasure ends by its shred, then staff cannot close it."""
    dep = sqlite_deployment
    dep.lethe("rights", "erase", "acct-staff-erased")
    (row,) = [r for r in dep.lethe_json("rights", "list", "--json") if r["kind"] == "erasure"]
    assert row["state"] == "fulfilled"
    console = _stub(dep, "console")
    for call in (lambda: _deny(console, row["request_id"], exemption="gdpr-17-3-b-legal-obligation"),
                 lambda: _complete(console, row["request_id"])):
        code, reason, _ = _refusal(call)
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "REQUEST_CLOSED")


@pytest.fixture(scope="module")
def stopped(sqlite_deployment: Deployment) -> Iterator[Deployment]:
    """The deployment with the vault stopped (this module's own: the fixture is per module)."""
    _stop(sqlite_deployment, "vault")
    yield sqlite_deployment


def test_only_the_operator_and_the_console_deny_or_complete(stopped: Deployment) -> None:
    dep = stopped
    assert EXPECTED[DENY] == EXPECTED[COMPLETE] == {"operator", "console"}
    operator = _stub(dep, "operator")
    closed, refused = [], []
    for identity in sorted(EVERYONE):
        stub = _stub(dep, identity)
        for action in (_deny, _complete):
            rid = _open(operator, rights_pb2.REQUEST_KIND_ACCESS, f"acct-matrix-{identity}")
            if identity in EXPECTED[DENY]:
                r = action(stub, rid).request
                assert r.state == (rights_pb2.REQUEST_STATE_DENIED if action is _deny
                                   else rights_pb2.REQUEST_STATE_FULFILLED), identity
                closed.append(rid)
            else:
                code, _, _ = _refusal(lambda a=action, s=stub, r=rid: a(s, r))
                assert code == grpc.StatusCode.PERMISSION_DENIED, identity
                assert _state(operator, rid) == "REQUEST_STATE_IN_PROGRESS"
                refused.append(rid)
    listed = {r.request_id for r in operator.ListRequests(rights_pb2.ListRequestsRequest(),
                                                          timeout=30).requests}
    assert len(closed) == 4 and not listed & set(closed) and set(refused) <= listed


def test_a_denial_leaves_the_queue_and_a_replay_gets_the_first_answer(stopped: Deployment) -> None:
    console, operator = _stub(stopped, "console"), _stub(stopped, "operator")
    rid = _open(operator, rights_pb2.REQUEST_KIND_ACCESS, "acct-staff-replay")
    first = _deny(console, rid, action="deny-replay-1")
    assert first.request.exemption == GDPR_ANY and "Art. 12(5)" in first.request.reason
    assert _deny(console, rid, action="deny-replay-1") == first
    code, reason, _ = _refusal(lambda: _deny(console, rid, action="deny-replay-1", reason="other"))
    assert (code, reason) == (grpc.StatusCode.ALREADY_EXISTS, "REQUEST_ID_REUSED")
    for call in (lambda: _deny(operator, rid), lambda: _complete(console, rid)):
        code, reason, _ = _refusal(call)
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "REQUEST_CLOSED")
    open_ids = [r.request_id for r in operator.ListRequests(rights_pb2.ListRequestsRequest(),
                                                            timeout=30).requests]
    assert rid not in open_ids
    page = operator.ListRequests(rights_pb2.ListRequestsRequest(include_closed=True, page_size=1),
                                 timeout=30)
    assert len(page.requests) == 1 and page.next_page_token and page.total_size > 1


def test_bad_input_gets_the_right_status_and_no_personal_data_back(stopped: Deployment) -> None:
    dep = stopped
    console, operator = _stub(dep, "console"), _stub(dep, "operator")
    rid = _open(operator, rights_pb2.REQUEST_KIND_ACCESS, "acct-staff-bad")
    fake = Faker(["en_US", "de_DE"])
    fake.seed_instance(15)
    values = [fake.name(), fake.email(), fake.phone_number(), fake.last_name()]
    personal = [f"asked by {values[0]}", f"write to {values[1]}", f"called from {values[2]}",
                f"Mr {values[3]} insists"]
    cases = [(lambda: _deny(console, rid, exemption="no-such-exemption"), "EXEMPTION_UNKNOWN"),
             (lambda: _deny(console, rid, exemption="ccpa-145-exemptions"), "EXEMPTION_NOT_APPLICABLE"),
             (lambda: _deny(console, rid, exemption="gdpr-17-3-e-legal-claims"), "EXEMPTION_NOT_APPLICABLE"),
             (lambda: _deny(console, rid, reason=""), "REASON_INVALID"),
             (lambda: _complete(console, rid, reason="   "), "REASON_INVALID"),
             (lambda: _deny(console, rid, reason="x" * 201), "FREE_TEXT_TOO_LONG"),
             (lambda: _deny(console, rid, action="a" * 129), "REQUEST_ID_INVALID")]
    for text in personal:
        cases += [(lambda t=text: _deny(console, rid, reason=t), "FREE_TEXT_HAS_PERSONAL_DATA"),
                  (lambda t=text: _complete(console, rid, reason=t), "FREE_TEXT_HAS_PERSONAL_DATA")]
    for call, expected in cases:
        code, reason, message = _refusal(call)
        assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, expected), expected
        assert not any(v in message for v in values)
    for call in (lambda: _deny(console, "no-such-request"), lambda: _complete(console, "no-such-request")):
        assert _refusal(call)[0] == grpc.StatusCode.NOT_FOUND
    assert _state(operator, rid) == "REQUEST_STATE_IN_PROGRESS"  # nothing changed it
    logs = b"".join(p.read_bytes() for p in (dep.data_dir / "logs").glob("*") if p.is_file())
    assert logs and not any(v.encode() in logs for v in values)


def test_an_erasure_that_waits_is_deniable_and_never_completed_by_hand(stopped: Deployment) -> None:
    dep = stopped
    console, operator = _stub(dep, "console"), _stub(dep, "operator")
    waiting = _open(operator, rights_pb2.REQUEST_KIND_ERASURE, "acct-staff-erasure-2")
    time.sleep(3)  # the worker tried (and waits: the vault is down), nothing was ordered
    code, reason, _ = _refusal(lambda: _complete(console, waiting))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ERASURE_COMPLETES_BY_SHRED")
    code, reason, _ = _refusal(lambda: _deny(console, waiting, exemption="ccpa-105-d-8-legal-obligation"))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "EXEMPTION_NOT_APPLICABLE")
    r = _deny(console, waiting, exemption="gdpr-17-3-b-legal-obligation", reason="tax records").request
    assert r.state == rights_pb2.REQUEST_STATE_DENIED and "Art. 17(3)(b)" in r.reason
    log = events_pb2_grpc.EventLogServiceStub(secure_channel(
        _address(dep, "rights"), FileKeySource(dep.key_dir), "console", "rights"))
    aggregate = str(stable_id("dsr", waiting))
    names = [e.event.event_type for e in log.ReadEvents(events_pb2.ReadEventsRequest(), timeout=60)
             if e.event.originator_id == aggregate]
    assert names[-1] == "RequestDenied" and "ErasureShredOrdered" not in names


def test_the_cli_denies_and_completes_and_a_rerun_is_a_retry(stopped: Deployment, tmp_path: Path) -> None:
    dep = stopped
    operator = _stub(dep, "operator")
    denied = _open(operator, rights_pb2.REQUEST_KIND_ACCESS, "acct-staff-cli-1")
    completed = _open(operator, rights_pb2.REQUEST_KIND_ACCESS, "acct-staff-cli-2")
    for _ in range(2):
        out = dep.lethe("rights", "deny", denied, "--exemption", "gdpr-23-restriction",
                        "--reason", "restricted by national law").stdout.decode()
        assert "denied" in out and "Art. 23" in out
        dep.lethe("rights", "complete", completed, "--reason", "answered by registered post")
    assert _state(operator, denied) == "REQUEST_STATE_DENIED"
    assert _state(operator, completed) == "REQUEST_STATE_FULFILLED"
    proc = dep.lethe("rights", "complete", denied, "--reason", "something else", check=False)
    assert proc.returncode == 1 and b"closed" in proc.stderr
    proc = dep.lethe("rights", "deny", completed, "--exemption", "nope", "--reason", "r", check=False)
    assert proc.returncode == 1
    rows = dep.lethe_json("rights", "list", "--json")
    assert {r["request_id"]: r["state"] for r in rows}[denied] == "denied"
