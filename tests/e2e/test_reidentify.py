"""Reversible surrogates end to end on a real deployment: AnonymizeBatch with OPERATOR_SURROGATE, then
Reidentify with the session's key and maps; every use is in the anonymization service's log with
counts and the session id only; a wrong key, session or map is INVALID_ARGUMENT naming no value."""

from __future__ import annotations

import json
import os

import grpc
import pytest
from faker import Faker

from shared.gen.lethe.v1 import anonymization_pb2 as pb
from shared.gen.lethe.v1 import anonymization_pb2_grpc, events_pb2, events_pb2_grpc
from shared.keysource import FileKeySource
from shared.tls import secure_channel
from tests.conftest import Deployment


def _channel(dep: Deployment, identity: str) -> grpc.Channel:
    services = json.loads((dep.data_dir / "deployment.json").read_text())["services"]
    return secure_channel(services["anonymization"]["address"], FileKeySource(dep.key_dir), identity,
                          "anonymization")


def _events(dep: Deployment, event_type: str) -> list[dict]:
    with _channel(dep, "auditor") as channel:
        stub = events_pb2_grpc.EventLogServiceStub(channel)
        return [json.loads(r.event.attributes_json) for r in stub.ReadEvents(
            events_pb2.ReadEventsRequest(), timeout=60) if r.event.event_type == event_type]


def test_surrogates_round_trip_across_turns_and_every_reidentification_is_recorded(
        sqlite_deployment: Deployment) -> None:
    fake = Faker(["en_US", "en_GB"])
    key, session = os.urandom(32), "sess-" + os.urandom(4).hex()
    with _channel(sqlite_deployment, "operator") as channel:
        stub = anonymization_pb2_grpc.AnonymizationServiceStub(channel)
        earlier, sent, originals = b"", [], []
        for turn in range(6):
            fake.seed_instance(turn)
            name, email = fake.name(), fake.email()
            text = f"Hi, my name is {name} and my e-mail is {email}. Please write to {name.split()[0]}."
            item = pb.TextItem(text=text, pseudonym_key=key, session_id=session, surrogate_map=earlier)
            result = stub.AnonymizeBatch(pb.AnonymizeBatchRequest(
                items=[item], operator=pb.OPERATOR_SURROGATE), timeout=60).results[0]
            assert name not in result.text and email not in result.text and "<" not in result.text
            assert result.surrogate_map and name.encode() not in result.surrogate_map
            earlier = result.surrogate_map
            sent.append(result.text)
            originals.append(text)
        # the same value keeps its surrogate in a later turn (the earlier map went along)
        again = stub.Anonymize(pb.AnonymizeRequest(item=pb.TextItem(
            text=originals[0], pseudonym_key=key, session_id=session, surrogate_map=earlier),
            operator=pb.OPERATOR_SURROGATE), timeout=60).result
        assert again.text == sent[0]
        before = len(_events(sqlite_deployment, "TextsReidentified"))
        back = stub.Reidentify(pb.ReidentifyRequest(session_id=session, session_key=key,
                                                    surrogate_maps=[earlier], texts=sent), timeout=60)
        assert list(back.texts) == originals
        for bad in [dict(session_key=os.urandom(32)), dict(session_id=session + "x"),
                    dict(surrogate_maps=[earlier[:-1] + bytes([earlier[-1] ^ 1])]), dict(session_key=b"x")]:
            request = dict(session_id=session, session_key=key, surrogate_maps=[earlier], texts=sent) | bad
            with pytest.raises(grpc.RpcError) as exc:
                stub.Reidentify(pb.ReidentifyRequest(**request), timeout=60)
            assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert not any(w in (exc.value.details() or "") for o in originals for w in o.split()[4:6])
    events = _events(sqlite_deployment, "TextsReidentified")
    assert len(events) == before + 1
    mine = events[-1]
    assert mine["session_id"] == session and mine["texts"] == len(sent)
    assert mine["entity_counts"].get("EMAIL_ADDRESS") == len(sent)
    assert sum(mine["entity_counts"].values()) >= 2 * len(sent)
    dumped = json.dumps(events)
    for text in originals:
        fake_words = [w.strip(".,") for w in text.split() if "@" in w]
        assert not any(w in dumped for w in fake_words)


def test_reidentify_is_refused_to_the_ingestion_service(sqlite_deployment: Deployment) -> None:
    with _channel(sqlite_deployment, "ingestion") as channel:
        stub = anonymization_pb2_grpc.AnonymizationServiceStub(channel)
        with pytest.raises(grpc.RpcError) as exc:
            stub.Reidentify(pb.ReidentifyRequest(session_id="s", session_key=bytes(32)), timeout=60)
        assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_surrogates_need_a_session_id_and_a_map_of_the_same_session(sqlite_deployment: Deployment) -> None:
    key = os.urandom(32)
    with _channel(sqlite_deployment, "operator") as channel:
        stub = anonymization_pb2_grpc.AnonymizationServiceStub(channel)
        first = stub.Anonymize(pb.AnonymizeRequest(item=pb.TextItem(
            text="Call Jane Roe at jane.roe@example.com", pseudonym_key=key, session_id="a"),
            operator=pb.OPERATOR_SURROGATE), timeout=60).result
        for item in [pb.TextItem(text="Hi Jane Roe", pseudonym_key=key),
                     pb.TextItem(text="Hi Jane Roe", pseudonym_key=key, session_id="b",
                                 surrogate_map=first.surrogate_map),
                     pb.TextItem(text="Hi Jane Roe", pseudonym_key=key[:31], session_id="a")]:
            with pytest.raises(grpc.RpcError) as exc:
                stub.Anonymize(pb.AnonymizeRequest(item=item, operator=pb.OPERATOR_SURROGATE), timeout=60)
            assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "Jane" not in (exc.value.details() or "") and "Roe" not in (exc.value.details() or "")
