"""The library's own types (plain dataclasses), apart from the generated protos."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from lethe_client._gen.lethe.v1 import ingestion_pb2 as pb

OUTCOMES = {pb.INGEST_OUTCOME_STORED: "stored", pb.INGEST_OUTCOME_DUPLICATE: "duplicate",
            pb.INGEST_OUTCOME_REJECTED: "rejected", pb.INGEST_OUTCOME_ERASED: "erased",
            pb.INGEST_OUTCOME_ACCEPTED: "accepted"}
MAX_BATCH = 1000  # items per Ingest call (the service's limit)


@dataclass(frozen=True)
class Interaction:
    """One interaction of the AI service (texts UTF-8, at most 256 KiB each; ``region`` e.g. EU)."""

    account_id: str
    prompt: str
    region: str
    response: str = ""
    session_hint: str = ""
    client_ip: str = ""
    user_agent: str = ""
    kind: str = "interaction"
    contact: str = ""
    occurred_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    def to_proto(self, sequence: int) -> pb.Interaction:
        """The proto message (``sequence`` echoed in the result)."""
        message = pb.Interaction(account_id=self.account_id, session_hint=self.session_hint,
                                 client_ip=self.client_ip, user_agent=self.user_agent, region=self.region,
                                 kind=self.kind, prompt=self.prompt, response=self.response,
                                 contact=self.contact, sequence=sequence)
        message.occurred_at.FromDatetime(self.occurred_at.astimezone(dt.timezone.utc))
        return message


@dataclass(frozen=True)
class IngestResult:
    """What happened to one interaction: ``accepted`` (durably queued; de-identified and stored
    shortly after), ``stored``, ``duplicate``, ``rejected`` or ``erased``."""

    outcome: str
    interaction_id: str = ""
    reason: str = ""
    entities_redacted: int = 0

    @classmethod
    def from_proto(cls, r: pb.IngestResult) -> IngestResult:
        """From the proto result."""
        return cls(OUTCOMES.get(r.outcome, "rejected"), r.interaction_id, r.reason, r.entities_redacted)
