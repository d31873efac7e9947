"""IngestionService over gRPC: translates protos to application calls and back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.ingestion.application import DEIDENTIFIED, DURABLE, IngestionApplication, IngestResult
from services.ingestion.domain import InteractionIn
from shared.errors import require
from shared.server import check_request_id
from shared.limits import MAX_BATCH_ITEMS, MAX_STREAM_ITEMS
from shared.gen.lethe.v1 import ingestion_pb2 as pb
from shared.gen.lethe.v1 import ingestion_pb2_grpc
from shared.prototime import from_timestamp

MAX_BATCH = MAX_BATCH_ITEMS
STREAM_CHUNK = 64
MAX_STREAM = MAX_STREAM_ITEMS
_OUTCOME = {"stored": pb.INGEST_OUTCOME_STORED, "duplicate": pb.INGEST_OUTCOME_DUPLICATE,
            "rejected": pb.INGEST_OUTCOME_REJECTED, "erased": pb.INGEST_OUTCOME_ERASED,
            "accepted": pb.INGEST_OUTCOME_ACCEPTED}
_ACKNOWLEDGE = {pb.ACKNOWLEDGE_UNSPECIFIED: DURABLE, pb.ACKNOWLEDGE_DURABLE: DURABLE,
                pb.ACKNOWLEDGE_DEIDENTIFIED: DEIDENTIFIED}


def to_domain(m: pb.Interaction) -> InteractionIn:
    """A proto Interaction as the domain's InteractionIn."""
    occurred = from_timestamp(m.occurred_at, "timestamp") if m.HasField("occurred_at") else None
    return InteractionIn(m.account_id, m.session_hint, m.client_ip, m.user_agent, m.region,
                         occurred, m.kind or "interaction", m.prompt, m.response, m.contact)


def to_proto(sequence: int, r: IngestResult) -> pb.IngestResult:
    """A domain result as a proto IngestResult."""
    return pb.IngestResult(sequence=sequence, outcome=_OUTCOME[r.status], reason=r.reason,
                           message=r.message, interaction_id=r.interaction_id,
                           entities_redacted=r.entities_redacted)


class IngestionServicer(ingestion_pb2_grpc.IngestionServiceServicer):
    """Thin gRPC adapter over :class:`IngestionApplication`."""

    def __init__(self, app: IngestionApplication) -> None:
        self.app = app

    def _run(self, items: list[pb.Interaction], acknowledge: int) -> list[pb.IngestResult]:
        """Ingest a batch (an item repeated in it comes back DUPLICATE after the first)."""
        require(acknowledge in _ACKNOWLEDGE, "acknowledge is not a known value", "ACKNOWLEDGE_INVALID")
        results = self.app.ingest([to_domain(i) for i in items], _ACKNOWLEDGE[acknowledge])
        return [to_proto(i.sequence, r) for i, r in zip(items, results, strict=True)]

    def Ingest(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        require(len(request.interactions) <= MAX_BATCH, f"at most {MAX_BATCH} interactions",
                "BATCH_TOO_LARGE")
        return pb.IngestResponse(results=self._run(list(request.interactions), request.acknowledge))

    def IngestStream(self, request_iterator: Iterable[Any], context: Any) -> Any:  # noqa: N802, D102
        results: list[pb.IngestResult] = []
        chunk: list[pb.Interaction] = []
        first: Any = None
        for count, message in enumerate(request_iterator, start=1):
            # Results are returned at the end: bound them (what came before is accepted and kept).
            require(count <= MAX_STREAM, f"a stream carries at most {MAX_STREAM} interactions; "
                    "split the input", "STREAM_TOO_LONG")
            if first is None:
                first = message
                check_request_id(first.request_id)
            require(message.request_id in ("", first.request_id),
                    "request_id changed within the stream", "REQUEST_ID_CHANGED")
            chunk.append(message.interaction)
            if len(chunk) >= STREAM_CHUNK:
                results += self._run(chunk, first.acknowledge)
                chunk = []
        if chunk:
            results += self._run(chunk, first.acknowledge)
        return pb.IngestStreamResponse(results=results)
