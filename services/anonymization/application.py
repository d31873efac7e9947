"""Anonymization use cases: de-identify texts (batch-first) and release k-anonymous aggregates.

The detection engine (:mod:`services.anonymization.engine`) is loaded once at start-up. Events carry
counts per entity type only; texts and values never leave the call that carries them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from eventsourcing.application import AggregateNotFoundError

from services.anonymization.aggregation import aggregate as aggregate_keywords
from services.anonymization.domain import AggregateRelease, DeidentificationRun
from services.anonymization.engine import Detected, DetectionBudgetExceeded, DetectionEngine, deidentify
from shared.app import LetheApplication
from shared.config import Settings, number_setting
from shared.errors import InvalidArgument, ResourceExhausted, require
from shared.keysource import FileKeySource
from shared.policy import load_policy

MAX_TEXT_BYTES = 256 * 1024
MAX_BATCH = 1000
OPERATORS = ("placeholder", "pseudonym")
# Seconds of detection allowed per text (``LETHE_DETECTION_BUDGET_S``); a text over it is refused.
DEFAULT_DETECTION_BUDGET_S = 10.0


@dataclass(frozen=True)
class Deidentified:
    """A de-identified text and the entities found in its input (code-point offsets)."""

    text: str
    entities: list[Detected]


def check_texts(texts: list[str]) -> None:
    """Raise InvalidArgument when the batch or a text is too large (256 KiB UTF-8 each)."""
    require(len(texts) <= MAX_BATCH, f"at most {MAX_BATCH} texts per batch", "BATCH_TOO_LARGE")
    for i, text in enumerate(texts):
        require(len(text.encode("utf-8", "surrogatepass")) <= MAX_TEXT_BYTES,
                f"text {i} exceeds {MAX_TEXT_BYTES} bytes", "TEXT_TOO_LARGE")


class AnonymizationApplication(LetheApplication):
    """The anonymization service's application."""

    service = "anonymization"

    def __init__(self, settings: Settings, keys: FileKeySource,
                 engine: DetectionEngine | None = None) -> None:
        super().__init__(settings, keys)
        self.engine = engine or DetectionEngine(
            budget_s=number_setting("LETHE_DETECTION_BUDGET_S", DEFAULT_DETECTION_BUDGET_S))
        self.policy = load_policy()

    def deidentify_batch(self, texts: list[str], operator: str = "placeholder",
                         pseudonym_keys: list[bytes] | None = None) -> list[Deidentified]:
        """Detect and replace personal data in each text, in input order.

        Args:
            operator: ``"placeholder"`` (``<EMAIL_ADDRESS>``) or ``"pseudonym"`` (session-consistent
                surrogates; then ``pseudonym_keys`` holds one 32-byte key per text).
        Raises:
            InvalidArgument: on an oversized batch or text, an unknown operator, or missing keys.
            ResourceExhausted: reason ``DETECTION_BUDGET_EXCEEDED`` when detection of a text ran
                over its time budget; the message names the texts' indices, and nothing is returned
                for the batch (fail closed: a text is never returned unredacted).
        """
        check_texts(texts)
        require(operator in OPERATORS, "unknown operator", "OPERATOR_INVALID")
        if operator == "pseudonym":
            require(pseudonym_keys is not None and len(pseudonym_keys) == len(texts)
                    and all(len(k) == 32 for k in pseudonym_keys),
                    "pseudonym operator needs one 32-byte key per text", "PSEUDONYM_KEY_INVALID")
        try:
            found = self.engine.analyze_batch(texts) if texts else []
        except DetectionBudgetExceeded as e:
            raise ResourceExhausted(
                f"detection exceeded its {e.budget_s:g} s per-text budget for texts {e.indices[:20]}",
                "DETECTION_BUDGET_EXCEEDED") from None
        out = []
        for i, (text, entities) in enumerate(zip(texts, found, strict=True)):
            key = pseudonym_keys[i] if operator == "pseudonym" and pseudonym_keys else None
            try:
                out.append(Deidentified(deidentify(text, entities, operator, key), entities))
            except ValueError:
                raise InvalidArgument("cannot apply operator", "OPERATOR_FAILED") from None
        counts = Counter(e.type for entities in found for e in entities)
        self.save(DeidentificationRun(texts=len(texts), entity_counts=dict(counts),
                                      operator=operator))
        return out

    def aggregate(self, request_id: str, inputs: list[tuple[str, str]], k: int = 0) -> AggregateRelease:
        """Release keyword counts with at least k distinct subjects (k=0: the policy's k).

        Idempotent by ``request_id``. Raises InvalidArgument when k < 2 or request_id is empty.
        """
        require(bool(request_id), "request_id is required", "REQUEST_ID_MISSING")
        k = k or self.policy.min_subjects
        require(k >= 2, "min_subjects must be at least 2", "MIN_SUBJECTS_INVALID")
        with self.lock:
            try:
                return self.repository.get(AggregateRelease.create_id(request_id))
            except AggregateNotFoundError:
                pass
            released, suppressed = aggregate_keywords(inputs, k)
            release = AggregateRelease(
                request_id=request_id, k=k, texts_used=len(inputs),
                keywords=[{"keyword": s.keyword, "text_count": s.text_count,
                           "subject_count": s.subject_count} for s in released],
                keywords_suppressed=suppressed)
            self.save(release)
            return release
