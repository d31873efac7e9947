"""``lethe audit``: what ``replay`` and ``verify`` read and report (the checks: ``shared/audit/``).

``all_logs`` is every log the auditor can read: the five services' (``ReadEvents``) and the
gateway's own log when this machine holds it (``<data dir>/gateway/events.db`` or its PostgreSQL
schema; see :func:`shared.audit.gateway_log`). ``verify_deployment`` checks each service's log
against its signed tree heads (and the auditor's checkpoint), then, on logs proven intact (and
the gateway's, which has no signed heads), runs every invariant of
:data:`shared.audit.INVARIANTS` and returns the report ``lethe audit verify --json`` prints::

    {"ok": bool, "events": {service: signed tree size},
     "integrity": {service: {"tree_size", "root_hash", "verified_events", "unsigned_events",
                             "from_checkpoint", "ok"}},
     "unsigned_logs": {"gateway": events read},          # only when the gateway's log is here
     "invariants": [{"name", "status": "pass|fail|skipped", "checked_events", "violations",
                     "promise", "reads": ["service:EventType", ...]}, ...],
     "violations": [{"kind", "service", "position", "message"}, ...]}

``invariants`` is empty when integrity failed (the invariants only run on intact logs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shared.audit import (INVARIANTS, Entry, Violation, bucket_versions_in, check,
                          erased_keys_alive, gateway_log, integrity, integrity_violations,
                          load_checkpoint, prove, read_logs, save_checkpoint, shred_destroys,
                          timeline, verify)
from shared.clients import Peers
from shared.config import SERVICES, Settings
from shared.keysource import FileKeySource

__all__ = ["INVARIANTS", "Entry", "Violation", "all_logs", "erased_keys_alive", "prove",
           "read_logs", "shred_destroys", "timeline", "verify", "verify_deployment"]


def all_logs(settings: Settings, keys: FileKeySource, peers: Peers) -> dict[str, list[Entry]]:
    """The services' logs, and the gateway's (key ``gateway``) when this machine holds it."""
    logs = read_logs(peers)
    gateway = gateway_log(settings, keys)
    if gateway is not None:
        logs["gateway"] = gateway
    return logs


def verify_deployment(settings: Settings, keys: FileKeySource, peers: Peers,
                      trusted: dict[str, str], checkpoint: Path | None = None,
                      full: bool = False) -> dict[str, Any]:
    """Integrity, then every invariant; returns the report above (``ok`` false on any problem).

    ``trusted``: service -> hex public key; ``checkpoint``: the auditor's checkpoint file (read if
    present; written with the heads verified intact); ``full``: re-verify from scratch.
    """
    saved = load_checkpoint(checkpoint)
    outcomes, logs = integrity(peers, trusted, saved, full)
    violations = integrity_violations(outcomes)
    invariants: list[dict[str, Any]] = []
    unsigned: dict[str, int] = {}
    if not violations:  # the invariants run on logs proven intact
        missing = [s for s in SERVICES if s not in logs]
        if missing:
            logs.update({s: v for s, v in read_logs(peers).items() if s in missing})
        gateway = gateway_log(settings, keys)
        if gateway is not None:
            logs["gateway"] = gateway
            unsigned["gateway"] = len(gateway)
        report = check(logs, bucket_versions=bucket_versions_in(settings))
        violations, invariants = report.violations, report.as_list()
    if checkpoint:
        good = {s: o.checkpoint for s, o in outcomes.items() if o.checkpoint}
        save_checkpoint(checkpoint, {**saved, **good})
    doc: dict[str, Any] = {
        "ok": not violations, "events": {s: o.head["tree_size"] for s, o in outcomes.items()},
        "integrity": {s: {"tree_size": o.head["tree_size"], "root_hash": o.head["root_hash"],
                          "verified_events": o.events, "unsigned_events": o.unsigned,
                          "from_checkpoint": bool(saved.get(s)) and not full,
                          "ok": o.problem is None} for s, o in outcomes.items()}}
    if unsigned:
        doc["unsigned_logs"] = unsigned
    doc["invariants"] = invariants
    doc["violations"] = [v.as_dict() for v in violations]
    return doc
