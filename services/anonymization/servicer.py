"""AnonymizationService over gRPC: translates protos to application calls and back."""

from __future__ import annotations

from typing import Any

from services.anonymization.application import AnonymizationApplication, Deidentified
from shared.gen.lethe.v1 import anonymization_pb2 as pb
from shared.gen.lethe.v1 import anonymization_pb2_grpc

_OPERATOR = {pb.OPERATOR_UNSPECIFIED: "placeholder", pb.OPERATOR_PLACEHOLDER: "placeholder",
             pb.OPERATOR_PSEUDONYM: "pseudonym", pb.OPERATOR_SURROGATE: "surrogate"}


def _result(d: Deidentified) -> pb.AnonymizedText:
    return pb.AnonymizedText(text=d.text, entities=[
        pb.Entity(type=e.type, start=e.start, end=e.end, score=e.score) for e in d.entities],
        surrogate_map=d.surrogate_map)


class AnonymizationServicer(anonymization_pb2_grpc.AnonymizationServiceServicer):
    """Thin gRPC adapter over :class:`AnonymizationApplication`."""

    def __init__(self, app: AnonymizationApplication) -> None:
        self.app = app

    def _run(self, items: Any, operator: int) -> list[Deidentified]:
        op = _OPERATOR.get(operator, "unknown")
        keys = [i.pseudonym_key for i in items] if op in ("pseudonym", "surrogate") else None
        sessions = [(i.session_id, i.surrogate_map) for i in items] if op == "surrogate" else None
        return self.app.deidentify_batch([i.text for i in items], op, keys, sessions)

    def Anonymize(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        return pb.AnonymizeResponse(result=_result(self._run([request.item], request.operator)[0]))

    def AnonymizeBatch(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        return pb.AnonymizeBatchResponse(
            results=[_result(d) for d in self._run(request.items, request.operator)])

    def Reidentify(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        return pb.ReidentifyResponse(texts=self.app.reidentify(
            request.session_id, request.session_key, list(request.surrogate_maps), list(request.texts)))

    def Aggregate(self, request: Any, context: Any) -> Any:  # noqa: N802, D102
        release = self.app.aggregate(request.request_id,
                                     [(i.subject_ref, i.text) for i in request.inputs],
                                     request.min_subjects)
        return pb.AggregateResponse(
            keywords=[pb.KeywordCount(**k) for k in release.keywords],
            texts_used=release.texts_used, keywords_suppressed=release.keywords_suppressed)
