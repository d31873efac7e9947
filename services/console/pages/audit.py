"""Audit: each log's latest signed tree head and size, the last verification and its result, and
a button that verifies now (the same checks as ``lethe audit verify``)."""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from services.console import auth
from shared import audit as audit_mod
from shared.config import SERVICES
from shared.transparency import published_keys


def verify_now(backend: Any) -> dict[str, Any]:
    """Integrity of every log against its signed head, then the cross-service checks."""
    outcomes, logs = audit_mod.integrity(backend.peers, published_keys(backend.keys, SERVICES), {})
    violations = audit_mod.integrity_violations(outcomes)
    if not violations:
        missing = [s for s in SERVICES if s not in logs]
        if missing:
            logs.update({s: v for s, v in audit_mod.read_logs(backend.peers).items() if s in missing})
        violations = audit_mod.verify(logs, bucket_versions=audit_mod.bucket_versions_in(backend.settings))
    return {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "ok": not violations,
            "events": {s: o.head["tree_size"] for s, o in outcomes.items()},
            "violations": [v.as_dict() for v in violations]}


def routes(console: Any) -> list[Route]:
    """The Audit page's routes."""
    backend = console.backend
    saved = console.state_dir / "last-verification.json"

    def page(request: Request) -> Response:
        last = console.last_verification
        if last is None and saved.exists():
            last = json.loads(saved.read_text())
        return console.render(request, "audit.html", "Audit", heads=backend.heads(), last=last)

    async def verify(request: Request) -> Response:
        await auth.checked_form(request)
        result = await run_in_threadpool(verify_now, backend)
        console.last_verification = result
        fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(result, fh)
        auth.session_of(request).flash = "Verified: intact." if result["ok"] else (
            f"Verification found {len(result['violations'])} problems.")
        return RedirectResponse("/audit", status_code=303)

    return [Route("/audit", page), Route("/audit/verify", verify, methods=["POST"])]
