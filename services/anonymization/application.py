"""Anonymization use cases: de-identify texts (batch-first) and release k-anonymous aggregates.

The detection engine (:mod:`services.anonymization.engine`) is loaded once at start-up. Events carry
counts per entity type only; texts and values never leave the call that carries them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from eventsourcing.application import AggregateNotFoundError

from services.anonymization.aggregation import aggregate as aggregate_keywords
from services.anonymization.domain import AggregateRelease, DeidentificationRun, Reidentification
from services.anonymization.engine import Detected, DetectionBudgetExceeded, DetectionEngine, deidentify
from services.anonymization.operators import SurrogateOperator, reidentify
from services.anonymization.surrogates import seal, unseal
from shared.app import LetheApplication
from shared.config import Settings, number_setting
from shared.errors import InvalidArgument, ResourceExhausted, require
from shared.keysource import FileKeySource
from shared.policy import load_policy

MAX_TEXT_BYTES = 256 * 1024
MAX_BATCH = 1000
OPERATORS = ("placeholder", "pseudonym", "surrogate")
KEYED_OPERATORS = ("pseudonym", "surrogate")
MAX_SURROGATE_MAPS = 64
MAX_SESSION_ID = 128
# Seconds of detection allowed per text (``LETHE_DETECTION_BUDGET_S``); a text over it is refused.
DEFAULT_DETECTION_BUDGET_S = 10.0


@dataclass(frozen=True)
class Deidentified:
    """A de-identified text and the entities found in its input (code-point offsets)."""

    text: str
    entities: list[Detected]
    surrogate_map: bytes = b""


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
                         pseudonym_keys: list[bytes] | None = None,
                         sessions: list[tuple[str, bytes]] | None = None) -> list[Deidentified]:
        """Detect and replace personal data in each text, in input order.

        Args:
            operator: ``"placeholder"`` (``<EMAIL_ADDRESS>``), ``"pseudonym"`` (session-consistent
                ``<TYPE_xxxxxxxx>``) or ``"surrogate"`` (realistic, reversible surrogates: each
                result carries its sealed map); the last two need ``pseudonym_keys``, one 32-byte
                key per text.
            sessions: for ``"surrogate"``, per text the session id and an earlier sealed map of the
                session (``b""`` for none).
        Raises:
            InvalidArgument: on an oversized batch or text, an unknown operator, or missing keys.
            ResourceExhausted: reason ``DETECTION_BUDGET_EXCEEDED`` when detection of a text ran
                over its time budget; the message names the texts' indices, and nothing is returned
                for the batch (fail closed: a text is never returned unredacted).
        """
        check_texts(texts)
        require(operator in OPERATORS, "unknown operator", "OPERATOR_INVALID")
        if operator in KEYED_OPERATORS:
            require(pseudonym_keys is not None and len(pseudonym_keys) == len(texts)
                    and all(len(k) == 32 for k in pseudonym_keys),
                    "pseudonym operator needs one 32-byte key per text", "PSEUDONYM_KEY_INVALID")
        if operator == "surrogate":
            require(sessions is not None and len(sessions) == len(texts) and all(s for s, _ in sessions),
                    "surrogate operator needs a session_id per text", "SESSION_ID_INVALID")
        try:
            found = self.engine.analyze_batch(texts) if texts else []
        except DetectionBudgetExceeded as e:
            raise ResourceExhausted(
                f"detection exceeded its {e.budget_s:g} s per-text budget for texts {e.indices[:20]}",
                "DETECTION_BUDGET_EXCEEDED") from None
        out = []
        for i, (text, entities) in enumerate(zip(texts, found, strict=True)):
            key = pseudonym_keys[i] if operator in KEYED_OPERATORS and pseudonym_keys else None
            if operator == "surrogate":
                assert key is not None
                assert sessions is not None
                session_id, earlier = sessions[i]
                op = SurrogateOperator(self._open_maps(key, session_id, [earlier] if earlier else []))
                try:
                    redacted = deidentify(text, entities, op, key)
                except ValueError:
                    raise InvalidArgument("cannot apply operator", "OPERATOR_FAILED") from None
                out.append(Deidentified(redacted, entities, seal(op.mapping, key, session_id)))
                continue
            try:
                out.append(Deidentified(deidentify(text, entities, operator, key), entities))
            except ValueError:
                raise InvalidArgument("cannot apply operator", "OPERATOR_FAILED") from None
        counts = Counter(e.type for entities in found for e in entities)
        self.save(DeidentificationRun(texts=len(texts), entity_counts=dict(counts),
                                      operator=operator))
        return out

    @staticmethod
    def _open_maps(key: bytes, session_id: str, maps: list[bytes]) -> dict[str, tuple[str, str]]:
        """The union of sealed surrogate maps. Raises InvalidArgument (``SURROGATE_MAP_INVALID``)
        when one does not open with this key and session id."""
        require(len(session_id) <= MAX_SESSION_ID, f"session_id exceeds {MAX_SESSION_ID} characters",
                "SESSION_ID_INVALID")
        require(len(maps) <= MAX_SURROGATE_MAPS, f"at most {MAX_SURROGATE_MAPS} surrogate maps",
                "SURROGATE_MAP_INVALID")
        mapping: dict[str, tuple[str, str]] = {}
        for i, blob in enumerate(maps):
            try:
                mapping.update(unseal(blob, key, session_id))
            except ValueError:
                raise InvalidArgument(f"surrogate map {i} does not open with this key and session",
                                      "SURROGATE_MAP_INVALID") from None
        return mapping

    def reidentify(self, session_id: str, key: bytes, maps: list[bytes], texts: list[str]) -> list[str]:
        """Put the originals back in place of a session's surrogates, and record the use
        (``TextsReidentified``: session id, text count, values put back per type).

        Raises InvalidArgument: a key not 32 bytes, an empty or long session id, too many maps or
        texts, an oversized text, or a map that does not open with the key and session id.
        """
        check_texts(texts)
        require(len(key) == 32, "session_key must be 32 bytes", "PSEUDONYM_KEY_INVALID")
        require(bool(session_id), "session_id is required", "SESSION_ID_INVALID")
        mapping = self._open_maps(key, session_id, maps)
        out, counts = [], Counter()
        for text in texts:
            back, found = reidentify(text, mapping)
            out.append(back)
            counts.update(found)
        self.save(Reidentification(session_id=session_id, texts=len(texts), entity_counts=dict(counts)))
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
