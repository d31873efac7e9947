"""Reproduce ``eval/sample/presidio_research_heldout.jsonl`` from its source file (see README.md here).

Run: ``python eval/sample/convert.py SOURCE EXCLUDE [OUT]``.

- SOURCE: ``data/synth_dataset_v2.json`` of https://github.com/microsoft/presidio-research (MIT; a JSON
  list of ``{"full_text", "masked", "spans": [{"entity_type", "entity_value", "start_position",
  "end_position"}], "template_id", "metadata"}``, 1,500 synthetic sentences).
- EXCLUDE: the 1,000-sentence split of that file kept outside the repository
  (``$LETHE_HANDBOOK_DIR/data/pii/synth_pii_dev.json``, same shape). Every SOURCE record whose text is
  also an EXCLUDE text is left out, so the sample shares no sentence with that split.
- OUT (default: the sample beside this script): JSON Lines, one record a line, in SOURCE order:
  ``{"source_index": int, "text": str, "spans": [{"start": int, "end": int, "type": str | null,
  "label": str}]}``; ``start``/``end`` are Python string offsets (code points, end exclusive) into
  ``text``; ``label`` is the source's label and ``type`` our entity type, mapped as
  ``services.anonymization.evaluate.SYNTH_COMPAT`` maps the same labels (``null``: out of scope,
  TITLE). Spans are sorted by start.

Exits 1, with a message, when a span's offsets do not cut out its ``entity_value``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Source label -> our entity type (the single type SYNTH_COMPAT accepts for it); None: out of scope.
LABEL_TO_TYPE = {
    "PERSON": "PERSON", "EMAIL_ADDRESS": "EMAIL_ADDRESS", "PHONE_NUMBER": "PHONE_NUMBER",
    "CREDIT_CARD": "CREDIT_CARD", "IBAN_CODE": "IBAN_CODE", "US_SSN": "US_SSN", "IP_ADDRESS": "IP_ADDRESS",
    "STREET_ADDRESS": "LOCATION", "GPE": "LOCATION", "ZIP_CODE": "LOCATION", "DATE_TIME": "DATE_TIME",
    "DOMAIN_NAME": "URL", "NRP": "NRP", "ORGANIZATION": "ORGANIZATION", "AGE": "AGE",
    "US_DRIVER_LICENSE": "ID_NUMBER", "TITLE": None,
}


def convert(source: list[dict], exclude: list[dict]) -> list[dict]:
    """The held-out records of ``source`` in the sample's shape. :raises ValueError: a span whose
    offsets do not cut out its value, or a label missing from ``LABEL_TO_TYPE``."""
    seen = {r["full_text"] for r in exclude}
    out = []
    for i, rec in enumerate(source):
        if rec["full_text"] in seen:
            continue
        spans = []
        for s in rec["spans"]:
            start, end = s["start_position"], s["end_position"]
            if rec["full_text"][start:end] != s["entity_value"]:
                raise ValueError(f"record {i}: span {start}-{end} does not hold its value")
            spans.append({"start": start, "end": end, "type": LABEL_TO_TYPE[s["entity_type"]],
                          "label": s["entity_type"]})
        out.append({"source_index": i, "text": rec["full_text"],
                    "spans": sorted(spans, key=lambda s: (s["start"], s["end"]))})
    return out


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.split("\n\n", 2)[1], file=sys.stderr)
        return 2
    out_path = Path(argv[2]) if len(argv) == 3 else Path(__file__).with_name("presidio_research_heldout.jsonl")
    try:
        records = convert(json.loads(Path(argv[0]).read_text(encoding="utf-8")),
                          json.loads(Path(argv[1]).read_text(encoding="utf-8")))
    except (ValueError, KeyError) as exc:
        print(f"convert: {exc}", file=sys.stderr)
        return 1
    out_path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    print(f"{len(records)} records written to {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
