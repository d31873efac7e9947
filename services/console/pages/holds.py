"""Legal holds: place (reason of the policy, scope, reference) and release; what each preserves."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from services.console import auth

SCOPES = (("account", "A subject (account id)"), ("record", "A record (record id)"),
          ("category", "A data category"))


def routes(console: Any) -> list[Route]:
    """The Legal holds page's routes."""
    backend = console.backend

    def page(request: Request) -> Response:
        holds = sorted(backend.holds(include_released=True),
                       key=lambda h: (not h.active, h.placed_at.seconds))
        return console.render(request, "holds.html", "Legal holds", holds=holds, scopes=SCOPES,
                              reasons=console.policy.holds,
                              categories=[c for r in console.policy.rules for c in r.categories])

    async def place(request: Request) -> Response:
        form = await auth.checked_form(request)
        scope = str(form.get("scope", ""))
        target = str(form.get("target", "")).strip()
        if scope not in dict(SCOPES) or not target:
            auth.session_of(request).flash = "Choose a scope and name what to hold."
            return RedirectResponse("/holds", status_code=303)
        hold_id = await run_in_threadpool(backend.place_hold, str(form.get("reason", "")), scope,
                                           target, str(form.get("reference", "")).strip())
        auth.session_of(request).flash = f"Hold {hold_id} placed."
        return RedirectResponse("/holds", status_code=303)

    async def release(request: Request) -> Response:
        await auth.checked_form(request)
        hold_id = request.path_params["hold_id"]
        await run_in_threadpool(backend.release_hold, hold_id)
        auth.session_of(request).flash = f"Hold {hold_id} released."
        return RedirectResponse("/holds", status_code=303)

    return [Route("/holds", page), Route("/holds/place", place, methods=["POST"]),
            Route("/holds/{hold_id}/release", release, methods=["POST"])]
