"""Retention: what expires on each of the next 90 days by category (from retention's log), what
legal holds keep past their deadline, and the last sweeps with their counts.

The log is folded by the console's :class:`~services.console.folds.RetentionFold`, which reads at
most its budget of new events per page load."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.console.folds import fold_schedules

DAYS = 90


def schedules(entries: list[Any]) -> dict[str, dict[str, Any]]:
    """Live schedules by record id, folded from retention's events: category and deadline."""
    return fold_schedules({}, entries)


def calendar(live: dict[str, dict[str, Any]], today: dt.date) -> tuple[list[dict[str, Any]], list[str]]:
    """Per day of the next :data:`DAYS` with something due: counts per category."""
    days: dict[dt.date, Counter[str]] = defaultdict(Counter)
    for s in live.values():
        due = s["due_at"]
        if due and today <= due.date() < today + dt.timedelta(days=DAYS):
            days[due.date()][s["category"]] += 1
    categories = sorted({c for counts in days.values() for c in counts})
    rows = [{"day": d, "counts": [days[d].get(c, 0) for c in categories], "total": sum(days[d].values())}
            for d in sorted(days)]
    return rows, categories


def routes(console: Any) -> list[Route]:
    """The Retention page's routes."""
    backend = console.backend

    def page(request: Request) -> Response:
        fold = console.retention
        fold.advance(backend)
        live = fold.live
        now = dt.datetime.now(dt.timezone.utc)
        rows, categories = calendar(live, now.date())
        overdue_kept = Counter(s["category"] for s in live.values() if s["due_at"] and s["due_at"] <= now)
        waiting = Counter(s["category"] for s in live.values() if s["due_at"] is None)
        sweeps = list(fold.sweeps)[::-1]
        holds = [h for h in backend.holds(include_released=False)]
        return console.render(request, "retention.html", "Retention", rows=rows, categories=categories,
                              kept=sorted(overdue_kept.items()), waiting=sorted(waiting.items()),
                              sweeps=sweeps, holds=holds, days=DAYS, rules=console.policy.rules,
                              fold=fold)

    return [Route("/retention", page)]
