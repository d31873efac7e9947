"""Requests: the queue (overdue first, a page at a time), one request with its evidence, and the
actions with reasons: extend, deny citing an exemption of the policy, complete."""

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
OPEN = ("received", "verified", "in_progress", "extended")
NOUNS = {"extend": "An extension", "deny": "A denial", "complete": "A completion"}


def exemptions_for(policy: Any, law: str, kind: str) -> list[dict[str, str]]:
    """The policy's exemptions offered for a request of ``law`` and ``kind`` (key, reference);
    the rights service decides whether one applies, this only spares the DPO a refusal."""
    return [{"key": e["key"], "reference": e["reference"]}
            for e in policy.raw.get("request_exemptions", [])
            if e["law"] == law and kind in e["kinds"]]


def routes(console: Any) -> list[Route]:
    """The Requests page's routes."""
    backend = console.backend

    def queue(request: Request) -> Response:
        include_closed = request.query_params.get("all") == "1"
        page = backend.list_requests(include_closed, request.query_params.get("page", ""))
        return console.render(request, "requests.html", "Requests", rows=page["rows"],
                              include_closed=include_closed, total=page["total"],
                              overdue=page["overdue"], next=page["next"])

    def detail(request: Request) -> Response:
        r = backend.get_request(request.path_params["request_id"])
        try:
            events = backend.evidence(r["request_id"])["events"]
        except BackendError as exc:  # e.g. not signed yet: the page still shows the request
            events, r["evidence_error"] = [], exc.message
        return console.render(request, "request.html", "Request", r=r, events=events,
                              limit=EXTENSION_LIMITS.get(r["law"], ""), open=r["state"] in OPEN,
                              exemptions=exemptions_for(console.policy, r["law"], r["kind"]))

    async def act(request: Request, action: str) -> Response:
        """Extend, deny or complete with a reason; a refusal comes back as a message."""
        form = await auth.checked_form(request)
        request_id = request.path_params["request_id"]
        reason = str(form.get("reason", "")).strip()
        session = auth.session_of(request)
        if not reason:
            session.flash = f"{NOUNS[action]} needs a reason; nothing was done."
            return RedirectResponse(f"/requests/{request_id}", status_code=303)
        try:
            if action == "extend":
                r = await run_in_threadpool(backend.extend, request_id, reason)
                session.flash = f"Extended: now due {r['due_at']:%Y-%m-%d}."
            elif action == "deny":
                r = await run_in_threadpool(backend.deny, request_id,
                                            str(form.get("exemption", "")), reason)
                session.flash = f"Denied: {r['reason']}."
            else:
                await run_in_threadpool(backend.complete, request_id, reason)
                session.flash = "Completed."
        except BackendError as exc:
            if action == "extend":
                raise  # the error page (409), as before
            session.flash = f"Refused ({exc.code}): {exc.message}"
        return RedirectResponse(f"/requests/{request_id}", status_code=303)

    async def extend(request: Request) -> Response:
        return await act(request, "extend")

    async def deny(request: Request) -> Response:
        return await act(request, "deny")

    async def complete(request: Request) -> Response:
        return await act(request, "complete")

    def evidence(request: Request) -> Response:
        request_id = request.path_params["request_id"]
        doc = backend.evidence(request_id)
        return Response(json.dumps(doc, indent=1), media_type="application/json", headers={
            "Content-Disposition": f'attachment; filename="evidence-{request_id}.json"'})

    return [Route("/requests", queue),
            Route("/requests/{request_id}", detail),
            Route("/requests/{request_id}/extend", extend, methods=["POST"]),
            Route("/requests/{request_id}/deny", deny, methods=["POST"]),
            Route("/requests/{request_id}/complete", complete, methods=["POST"]),
            Route("/requests/{request_id}/evidence.json", evidence)]
