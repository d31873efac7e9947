"""VaultService over gRPC: translates protos to application calls and back, nothing else."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.vault.application import RecordIn, RecordOut, VaultApplication
from shared.errors import require
from shared.freetext import check_id, check_text
from shared.gen.lethe.v1 import vault_pb2, vault_pb2_grpc
from shared.prototime import from_timestamp
from shared.scopes import readable_forms
from shared.server import to_timestamp
from shared.tls import peer_identity

_OUTCOME = {"stored": vault_pb2.STORE_OUTCOME_STORED, "duplicate": vault_pb2.STORE_OUTCOME_DUPLICATE,
            "erased": vault_pb2.STORE_OUTCOME_ERASED}
MAX_ITEMS = 10_000
_KIND = {vault_pb2.DATA_KIND_PERSONAL: "personal", vault_pb2.DATA_KIND_AGGREGATE: "aggregate"}


def check_recipient_fields(r: Any) -> None:
    """The registry's free-text fields land in events: ids, or short texts without personal data."""
    for field in ("category", "region", "valid_until"):
        check_id(field, getattr(r, field))
    for field in ("name", "transfer_mechanism", "legal_reference"):
        check_text(field, getattr(r, field))


def _when(ts: Any) -> dt.datetime:
    require(ts.seconds > 0, "received_at is required", "RECEIVED_AT_MISSING")
    return from_timestamp(ts, "received_at", max_future=dt.timedelta(days=1))


def _record(r: RecordOut) -> vault_pb2.RecordContent:
    return vault_pb2.RecordContent(record_id=r.record_id, category=r.category, form=r.form,
                                   region=r.region, content=r.content,
                                   received_at=to_timestamp(r.received_at),
                                   stored_at=to_timestamp(r.stored_at),
                                   interaction_id=r.interaction_id)


class VaultServicer(vault_pb2_grpc.VaultServiceServicer):
    """Thin gRPC adapter over :class:`VaultApplication`."""

    def __init__(self, app: VaultApplication) -> None:
        self.app = app

    def OpenSessions(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        require(len(request.sessions) <= MAX_ITEMS, "too many sessions", "BATCH_TOO_LARGE")
        found = self.app.open_sessions([(s.subject_ref, s.session_hint, _when(s.received_at))
                                        for s in request.sessions])
        return vault_pb2.OpenSessionsResponse(sessions=[
            vault_pb2.Session(session_id=f[0], pseudonym_key=f[1]) if f else vault_pb2.Session()
            for f in found])

    def Store(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        require(len(request.records) <= MAX_ITEMS, "too many records", "BATCH_TOO_LARGE")
        ids = [r.record_id for r in request.records]
        require(len(set(ids)) == len(ids), "a record_id appears twice in the request",
                "RECORD_ID_DUPLICATE")
        outcomes = self.app.store([RecordIn(r.record_id, r.subject_ref, r.category, r.form, r.region,
                                            r.content, _when(r.received_at), r.interaction_id,
                                            from_timestamp(r.occurred_at, "occurred_at",
                                                           max_future=dt.timedelta(days=1))
                                            if r.HasField("occurred_at") else None)
                                   for r in request.records])
        return vault_pb2.StoreResponse(outcomes=[_OUTCOME[o] for o in outcomes])

    def Read(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        require(len(request.record_ids) <= MAX_ITEMS, "too many ids", "BATCH_TOO_LARGE")
        records = self.app.read(list(request.record_ids), request.purpose,
                                forms=readable_forms(peer_identity(context)))
        return vault_pb2.ReadResponse(records=[_record(r) for r in records])

    def ExportSubject(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        records = self.app.export_subject(request.subject_ref, request.request_id)
        return vault_pb2.ExportSubjectResponse(records=[_record(r) for r in records])

    def Purge(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        require(len(request.record_ids) <= MAX_ITEMS, "too many ids", "BATCH_TOO_LARGE")
        purged = self.app.purge(list(request.record_ids), request.reason, request.request_id)
        return vault_pb2.PurgeResponse(purged=purged)

    def ShredSubject(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        generation, purged, erased_at, notified = self.app.shred_subject(
            request.subject_ref, request.request_id, tuple(request.keep_categories),
            request.through_generation)
        return vault_pb2.ShredSubjectResponse(generation=generation, records_purged=purged,
                                              erased_at=to_timestamp(erased_at),
                                              notified_recipients=notified)

    def RegisterRecipient(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        r = request.recipient
        check_recipient_fields(r)
        entry = self.app.register_recipient(r.recipient_id, r.name, r.category, r.region,
                                            r.transfer_mechanism, r.legal_reference, r.valid_until)
        return vault_pb2.RegisterRecipientResponse(recipient=vault_pb2.Recipient(**entry))

    def ListRecipients(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        return vault_pb2.ListRecipientsResponse(
            recipients=[vault_pb2.Recipient(**e) for e in self.app.list_recipients()])

    def Disclose(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        check_id("purpose", request.purpose)  # recorded in the release or refusal event
        kind = _KIND.get(request.data_kind, "")
        released, reason, records = self.app.disclose(
            request.request_id, request.recipient_id, request.purpose, kind, request.subject_ref,
            list(request.categories))
        return vault_pb2.DiscloseResponse(released=released, refusal_reason=reason,
                                          records=[_record(r) for r in records])

    def Transfer(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        check_id("purpose", request.purpose)
        released, reason, count = self.app.transfer(request.request_id, request.recipient_id,
                                                    request.purpose, request.subject_ref)
        return vault_pb2.TransferResponse(released=released, refusal_reason=reason, records=count)

    def GetRecordFacts(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        require(len(request.record_ids) <= MAX_ITEMS, "too many ids", "BATCH_TOO_LARGE")
        return vault_pb2.GetRecordFactsResponse(facts=[vault_pb2.RecordFacts(
            record_id=f.record_id, received_at=to_timestamp(f.received_at),
            collected_at=to_timestamp(f.collected_at), interaction_id=f.interaction_id)
            for f in self.app.record_facts(list(request.record_ids))])

    def RotateKey(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        require(request.scope != vault_pb2.KEY_SCOPE_UNSPECIFIED, "scope is required",
                "SCOPE_MISSING")
        count = self.app.rotate(request.scope == vault_pb2.KEY_SCOPE_ROOT, request.bucket)
        return vault_pb2.RotateKeyResponse(rewrapped=count)
