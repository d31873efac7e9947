"""Requests: the queue (overdue first), one request, extension with a reason, its evidence."""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from services.console import auth
from services.console.backend import BackendError

EXTENSION_LIMITS = {"gdpr": "GDPR Art. 12(3): once, by up to two further months, with reasons and notice",
                    "ccpa": "CCPA 1798.130(a)(2): once, by up to 45 days, with notice"}


def routes(console: Any) -> list[Route]:
    """The Requests page's routes."""
    backend = console.backend

    def queue(request: Request) -> Response:
        include_closed = request.query_params.get("all") == "1"
        rows = backend.list_requests(include_closed)
        return console.render(request, "requests.html", "Requests", rows=rows,
                              include_closed=include_closed,
                              overdue=sum(1 for r in rows if r["overdue"]))

    def detail(request: Request) -> Response:
        r = backend.get_request(request.path_params["request_id"])
        try:
            events = backend.evidence(r["request_id"])["events"]
        except BackendError as exc:  # e.g. not signed yet: the page still shows the request
            events, r["evidence_error"] = [], exc.message
        return console.render(request, "request.html", "Request", r=r, events=events,
                              limit=EXTENSION_LIMITS.get(r["law"], ""))

    async def extend(request: Request) -> Response:
        form = await auth.checked_form(request)
        request_id = request.path_params["request_id"]
        reason = str(form.get("reason", "")).strip()
        if not reason:
            auth.session_of(request).flash = "An extension needs a reason."
        else:
            r = await run_in_threadpool(backend.extend, request_id, reason)
            auth.session_of(request).flash = f"Extended: now due {r['due_at']:%Y-%m-%d}."
        return RedirectResponse(f"/requests/{request_id}", status_code=303)

    def evidence(request: Request) -> Response:
        request_id = request.path_params["request_id"]
        doc = backend.evidence(request_id)
        return Response(json.dumps(doc, indent=1), media_type="application/json", headers={
            "Content-Disposition": f'attachment; filename="evidence-{request_id}.json"'})

    return [Route("/requests", queue),
            Route("/requests/{request_id}", detail),
            Route("/requests/{request_id}/extend", extend, methods=["POST"]),
            Route("/requests/{request_id}/evidence.json", evidence)]
