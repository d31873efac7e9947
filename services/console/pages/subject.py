"""Subject: found by account id (POSTed, kept in the session, never in a URL); its lifecycle
timeline from every log; its data only after an explicit reveal with a reason, which the rights
service records as ``SubjectDataRevealed`` before returning anything.

The timeline reads only the subject's events, where the console's
:class:`~services.console.folds.SubjectIndex` says they are; the index itself reads at most its
budget of new events per page load."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from services.console import auth
from services.console.folds import SubjectIndex
from shared import audit as audit_mod
from shared.config import SERVICES

HIDDEN = ("originator_topic",)


def _timeline(backend: Any, index: SubjectIndex, account_id: str) -> tuple[str, list[dict[str, Any]]]:
    ref = backend.resolve(account_id)
    index.advance(backend, SERVICES)
    entries = audit_mod.timeline({"subject": index.entries_of(backend, ref)})
    rows = [{"time": e.recorded_at, "service": e.service, "event": e.event, "id": e.originator_id,
             "details": ", ".join(f"{k}={v}" for k, v in sorted(e.attributes.items())
                                  if k not in HIDDEN and k != "subject_ref"
                                  and not isinstance(v, (list, dict)))[:160]}
            for e in entries]
    return ref, rows


def routes(console: Any) -> list[Route]:
    """The Subject page's routes."""
    backend = console.backend

    def page(request: Request) -> Response:
        session = auth.session_of(request)
        if not session.account_id:
            return console.render(request, "subject.html", "Subject", ref="", rows=[], revealed=None,
                                  index=None)
        ref, rows = _timeline(backend, console.subjects, session.account_id)
        return console.render(request, "subject.html", "Subject", ref=ref, rows=rows, revealed=None,
                              index=console.subjects)

    async def find(request: Request) -> Response:
        form = await auth.checked_form(request)
        auth.session_of(request).account_id = str(form.get("account_id", "")).strip()[:256]
        return RedirectResponse("/subject", status_code=303)

    async def forget(request: Request) -> Response:
        await auth.checked_form(request)
        auth.session_of(request).account_id = ""
        return RedirectResponse("/subject", status_code=303)

    async def reveal(request: Request) -> Response:
        form = await auth.checked_form(request)
        session = auth.session_of(request)
        reason = str(form.get("reason", "")).strip()
        if not session.account_id:
            return RedirectResponse("/subject", status_code=303)
        if not reason:
            session.flash = "A reveal needs a reason; nothing was shown."
            return RedirectResponse("/subject", status_code=303)
        export = await run_in_threadpool(backend.reveal, session.account_id, reason)
        ref, rows = await run_in_threadpool(_timeline, backend, console.subjects, session.account_id)
        return console.render(request, "subject.html", "Subject", ref=ref, rows=rows, revealed=export,
                              index=console.subjects)

    return [Route("/subject", page), Route("/subject/find", find, methods=["POST"]),
            Route("/subject/forget", forget, methods=["POST"]),
            Route("/subject/reveal", reveal, methods=["POST"])]
