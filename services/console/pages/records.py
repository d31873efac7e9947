"""Records of processing activities (GDPR Art. 30(1)), generated from the policy file, the
recipient registry and the logs; viewable, and downloadable as JSON and CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.pages.retention import schedules

FORMAT = "lethe.records-of-processing/v1"
SECURITY = [
    "Direct identifiers stripped at ingestion; IP addresses reduced to network prefixes",
    "Content encrypted at rest with AES-256-GCM under per-subject keys (envelope encryption)",
    "Erasure by crypto-shredding: the subject's key and its bucket key version are destroyed",
    "Mutual TLS on every call; per-identity least-privilege authorization",
    "Event logs encrypted at rest and verifiable (signed Merkle tree heads, RFC 9162)",
]


def build(policy: Any, recipients: list[Any], retention_log: list[Any] | None = None,
          live_schedules: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The Art. 30 record as one JSON-able document; the live schedules come folded
    (``live_schedules``) or are folded here from ``retention_log``."""
    folded = live_schedules if live_schedules is not None else schedules(retention_log or [])
    live = Counter(s["category"] for s in folded.values())
    activities = [{
        "rule": r.rule, "description": r.description, "categories": list(r.categories),
        "purposes": list(r.purposes), "retention": r.period_text(), "at_expiry": r.at_expiry,
        "hold_reasons": list(r.hold_reasons),
        "records_held": sum(live.get(c, 0) for c in r.categories)} for r in policy.rules]
    return {
        "format": FORMAT, "generated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "controller": {k: v for k, v in policy.raw["controller"].items()},
        "data_subjects": ["users of the AI chat service"],
        "activities": activities,
        "recipients": [{"id": r.recipient_id, "name": r.name, "category": r.category, "region": r.region,
                        "transfer_mechanism": r.transfer_mechanism, "legal_reference": r.legal_reference,
                        "valid_until": r.valid_until, "active": r.active} for r in recipients],
        "security_measures": SECURITY,
    }


def as_csv(doc: dict[str, Any]) -> str:
    """One row per processing activity, then one per recipient."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["section", "name", "categories", "purposes", "retention", "records_held",
                "region", "transfer_mechanism", "legal_reference", "valid_until"])
    for a in doc["activities"]:
        w.writerow(["activity", a["rule"], " ".join(a["categories"]), " ".join(a["purposes"]),
                    a["retention"], a["records_held"], "", "", "", ""])
    for r in doc["recipients"]:
        w.writerow(["recipient", r["id"], r["category"], "", "", "", r["region"],
                    r["transfer_mechanism"], r["legal_reference"], r["valid_until"]])
    return buf.getvalue()


def routes(console: Any) -> list[Route]:
    """The Records of processing page's routes."""
    backend = console.backend

    def document() -> dict[str, Any]:
        fold = console.retention
        fold.advance(backend)
        doc = build(console.policy, backend.recipients(), live_schedules=fold.live)
        # records_held counts the schedules folded so far: say how far (complete when equal)
        doc["retention_log_read"] = {"position": fold.position, "size": fold.size}
        return doc

    def page(request: Request) -> Response:
        return console.render(request, "records.html", "Records of processing", doc=document())

    def as_json(request: Request) -> Response:
        return Response(json.dumps(document(), indent=1), media_type="application/json",
                        headers={"Content-Disposition": 'attachment; filename="records-of-processing.json"'})

    def as_csv_file(request: Request) -> Response:
        return Response(as_csv(document()), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="records-of-processing.csv"'})

    return [Route("/records", page), Route("/records.json", as_json), Route("/records.csv", as_csv_file)]
