"""Recipients and transfers: the registry (mechanisms expiring first) and, from the vault's log,
the disclosures, transfers and refusals: the latest first, one window of the log a page (the page
reads at most ``LOG_WINDOW`` events however long the log), with a link to the window before."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

RELEASES = ("DataDisclosed", "DataTransferred", "DisclosureRefused")


def _release(e: Any) -> dict[str, Any]:
    a = e.attributes
    return {"time": e.recorded_at, "event": e.event, "recipient": a.get("recipient_id", ""),
            "purpose": a.get("purpose", ""), "mechanism": a.get("mechanism", ""),
            "records": len(a.get("record_ids", []) or []), "reason": a.get("reason", "")}


def routes(console: Any) -> list[Route]:
    """The Recipients page's routes."""
    backend = console.backend

    def page(request: Request) -> Response:
        today = dt.date.today().isoformat()
        registry = sorted(backend.recipients(),
                          key=lambda r: (r.valid_until == "", r.valid_until, r.recipient_id))
        rows = [{"r": r, "expired": bool(r.valid_until) and r.valid_until < today} for r in registry]
        try:
            upto = max(0, int(request.query_params.get("upto", "0")))
        except ValueError:
            upto = 0
        entries, older = backend.read_log_page("vault", upto)
        releases = [_release(e) for e in entries if e.event in RELEASES][::-1]
        return console.render(request, "recipients.html", "Recipients and transfers", rows=rows,
                              releases=releases, older=older,
                              window=(entries[0].position, entries[-1].position) if entries else None)

    return [Route("/recipients", page)]
