"""Request ids as AIP-155 says: one id names one request, per caller and method.

Every unary RPC whose ``request_id`` is an idempotency key is enumerated from the descriptors. For
each, a request with every field set is sent through the server's guard; then the same request
again (a retry: the first answer, or the application's idempotent path for personal-data
responses), then, for every field, the same id with that field changed (refused with
ALREADY_EXISTS / ``REQUEST_ID_REUSED`` and recorded, the servicer never runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from shared.gen.lethe.v1 import anonymization_pb2, ingestion_pb2, retention_pb2, rights_pb2, vault_pb2
from shared.idempotency import (
    PERSONAL_DATA_RESPONSES,
    IdempotencyStore,
    idempotent_methods,
    request_digest,
    request_id_methods,
)
from shared.server import Guards, _guard
from shared.store import SqlStore

MODULES = (anonymization_pb2, ingestion_pb2, retention_pb2, rights_pb2, vault_pb2)
SAMPLES = {FieldDescriptor.TYPE_STRING: "a1", FieldDescriptor.TYPE_BYTES: b"a1",
           FieldDescriptor.TYPE_BOOL: True, FieldDescriptor.TYPE_DOUBLE: 1.5,
           FieldDescriptor.TYPE_FLOAT: 1.5}


def _method(name: str) -> Any:
    service, method = name.split("/")
    for module in MODULES:
        for desc in module.DESCRIPTOR.services_by_name.values():
            if desc.full_name == service:
                return desc.methods_by_name[method]
    raise KeyError(name)


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _sample(field: FieldDescriptor) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return field.enum_type.values[-1].number
    return SAMPLES.get(field.type, 3)


def _set(msg: Message, field: FieldDescriptor, depth: int) -> None:
    """Give ``field`` a non-default value (one element for repeated fields and maps)."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.GetOptions().map_entry:
            key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
            if value.type == FieldDescriptor.TYPE_MESSAGE:
                _fill(getattr(msg, field.name)[_sample(key)], depth + 1)
            else:
                getattr(msg, field.name)[_sample(key)] = _sample(value)
        elif _repeated(field):
            _fill(getattr(msg, field.name).add(), depth + 1)
        else:
            _fill(getattr(msg, field.name), depth + 1)
            getattr(msg, field.name).SetInParent()
    elif _repeated(field):
        getattr(msg, field.name).append(_sample(field))
    else:
        setattr(msg, field.name, _sample(field))


def _fill(msg: Message, depth: int = 0) -> Message:
    """Set every field (the first member of each oneof), a few levels deep."""
    if depth > 3:
        return msg
    for field in msg.DESCRIPTOR.fields:
        oneof = field.containing_oneof
        if field.name == "request_id" or (oneof and msg.WhichOneof(oneof.name)):
            continue
        _set(msg, field, depth)
    return msg


def _changed(msg: Message, field: FieldDescriptor) -> Message:
    """A copy of ``msg`` with ``field`` changed: cleared when set, set when not."""
    copy = type(msg)()
    copy.CopyFrom(msg)
    is_set = len(getattr(copy, field.name)) if _repeated(field) else copy.HasField(field.name) \
        if field.has_presence else getattr(copy, field.name) != field.default_value
    if is_set:
        copy.ClearField(field.name)
    else:
        _set(copy, field, 0)
    return copy


class Aborted(Exception):
    """Raised by the fake context's abort, as gRPC's is."""


class FakeContext:
    """Just enough of a ServicerContext for the guard: a caller identity and abort."""

    def __init__(self, identity: str) -> None:
        self.identity = identity
        self.code: grpc.StatusCode | None = None
        self.details = ""

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"x509_common_name": [self.identity.encode()]}

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    def abort_with_status(self, status: Any) -> None:
        self.code, self.details = status.code, status.trailing_metadata
        raise Aborted()


@pytest.fixture
def store(tmp_path: Path) -> IdempotencyStore:
    return IdempotencyStore(SqlStore(str(tmp_path / "idempotency.db")))


def test_the_bound_methods_are_every_unary_rpc_with_a_request_id_key() -> None:
    # OpenSessions has no request_id: its sessions are keyed by their own ids.
    assert {"lethe.v1.VaultService/Disclose", "lethe.v1.RightsService/SubmitRequest",
            "lethe.v1.VaultService/ExportSubject"} <= PERSONAL_DATA_RESPONSES & request_id_methods()
    assert idempotent_methods() == request_id_methods() - PERSONAL_DATA_RESPONSES
    assert "lethe.v1.VaultService/Disclose" in request_id_methods()


def test_the_digest_ignores_the_request_id_only() -> None:
    a = vault_pb2.DiscloseRequest(request_id="r1", recipient_id="x")
    b = vault_pb2.DiscloseRequest(request_id="r2", recipient_id="x")
    assert request_digest(a) == request_digest(b)
    assert request_digest(a) != request_digest(vault_pb2.DiscloseRequest(request_id="r1",
                                                                         recipient_id="y"))


@pytest.mark.parametrize("name", sorted(request_id_methods()))
def test_a_request_id_reused_with_any_field_changed_is_refused(store: IdempotencyStore,
                                                               name: str) -> None:
    method = _method(name)
    request_cls = message_factory.GetMessageClass(method.input_type)
    response_cls = message_factory.GetMessageClass(method.output_type)
    runs: list[Message] = []
    refused: list[tuple[str, str, str]] = []

    def servicer(request: Message, context: Any) -> Message:
        runs.append(request)
        return response_cls()

    guard = _guard(f"/{name}", servicer, False, Guards(idempotency=store,
                                                        refused=lambda *a: refused.append(a)),
                   lambda r: r if isinstance(r, bytes) else r.SerializeToString())
    first = _fill(request_cls())
    first.request_id = "req-1"
    guard(first, FakeContext("operator"))
    assert len(runs) == 1
    guard(first, FakeContext("operator"))  # a retry
    assert len(runs) == (2 if name in PERSONAL_DATA_RESPONSES else 1)
    before = len(runs)
    fields = [f for f in request_cls.DESCRIPTOR.fields if f.name != "request_id"]
    assert fields, name
    for field in fields:
        context = FakeContext("operator")
        with pytest.raises(Aborted):
            guard(_changed(first, field), context)
        assert context.code == grpc.StatusCode.ALREADY_EXISTS, field.name
        assert b"REQUEST_ID_REUSED" in dict(context.details)["grpc-status-details-bin"]
    assert len(runs) == before, "the servicer ran for a reused request id"
    assert refused == [("operator", name, "REQUEST_ID_REUSED")] * len(fields)
    guard(_changed(first, fields[0]), FakeContext("rights"))  # another caller's ids are its own
    assert len(runs) == before + 1
