"""The console's rules without a browser: one-time login links, sessions, CSRF, the retention
calendar and the Art. 30 record."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path
from types import SimpleNamespace

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from services.console import auth
from services.console.pages.records import as_csv, build
from services.console.pages.retention import calendar, schedules
from shared.policy import load_policy


def test_a_login_link_works_once_and_its_file_is_private(tmp_path: Path) -> None:
    tokens = auth.LoginTokens(tmp_path / "console" / "login-token")
    first = tokens.current
    assert stat.S_IMODE((tmp_path / "console" / "login-token").stat().st_mode) == 0o600
    assert not tokens.consume("wrong") and not tokens.consume("")
    assert tokens.consume(first)
    assert not tokens.consume(first)
    assert (tmp_path / "console" / "login-token").read_text() == tokens.current != first


def test_an_idle_session_ends(monkeypatch: object) -> None:
    sessions = auth.Sessions()
    sid, session = sessions.start()
    assert sessions.get(sid) is session and sessions.get("other") is None
    session.seen -= auth.IDLE_S + 1
    assert sessions.get(sid) is None


def test_a_post_without_the_sessions_csrf_token_is_refused() -> None:
    session = auth.Session()

    async def action(request: Request) -> PlainTextResponse:
        request.state.session = session
        await auth.checked_form(request)
        return PlainTextResponse("done")

    client = TestClient(Starlette(routes=[Route("/a", action, methods=["POST"])]), raise_server_exceptions=False)
    assert client.post("/a", data={}).status_code == 403
    assert client.post("/a", data={"csrf": "forged"}).status_code == 403
    assert client.post("/a", data={"csrf": session.csrf}).text == "done"


def _entry(event: str, rid: str, **attrs: object) -> SimpleNamespace:
    return SimpleNamespace(event=event, originator_id=rid, attributes=attrs)


def test_the_calendar_counts_live_schedules_by_day_and_category() -> None:
    today = dt.date(2026, 12, 2)
    at = lambda d: dt.datetime(2026, 12, 2 + d, tzinfo=dt.timezone.utc).isoformat()  # noqa: E731
    log = [_entry("ScheduleCreated", "a", category="user.content", due_at=at(1), state="scheduled"),
           _entry("ScheduleCreated", "b", category="user.content", due_at=at(1), state="scheduled"),
           _entry("ScheduleCreated", "c", category="system.operations", due_at=at(3), state="scheduled"),
           _entry("ScheduleCreated", "d", category="user.contact", due_at=None, state="scheduled"),
           _entry("RecordExpired", "b"), _entry("DeadlineSet", "d", due_at=at(5))]
    rows, categories = calendar(schedules(log), today)
    assert categories == ["system.operations", "user.contact", "user.content"]
    assert [(r["day"].day, r["counts"]) for r in rows] == [(3, [0, 0, 1]), (5, [1, 0, 0]), (7, [0, 1, 0])]


def test_the_art30_record_names_every_rule_recipient_and_measure() -> None:
    policy = load_policy()
    recipient = SimpleNamespace(recipient_id="cloud", name="Cloud", category="infrastructure_provider",
                                region="US", transfer_mechanism="SCCs", legal_reference="2021/914",
                                valid_until="2027-01-01", active=True)
    doc = build(policy, [recipient], [_entry("ScheduleCreated", "a", category="user.content",
                                             due_at=None, state="scheduled")])
    assert {a["rule"] for a in doc["activities"]} == {r.rule for r in policy.rules}
    assert next(a for a in doc["activities"] if a["rule"] == "content")["records_held"] == 1
    text = as_csv(doc)
    assert text.splitlines()[0].startswith("section,name") and "recipient,cloud" in text


def test_folding_retention_s_log_in_pieces_equals_folding_it_at_once() -> None:
    """Generated logs (creations, deadlines, closings, repeats) folded in chunks of every size."""
    import random

    from services.console.folds import fold_schedules

    rng = random.Random(20261202)
    at = lambda d: dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=d)  # noqa: E731
    for _ in range(50):
        log = []
        for _ in range(rng.randrange(1, 200)):
            rid = f"r{rng.randrange(30)}"
            kind = rng.choice(["ScheduleCreated", "DeadlineSet", "RecordExpired", "ExpiredRecordPurged",
                               "ScheduleClosedByErasure", "RecordStored"])
            log.append(_entry(kind, rid, category=rng.choice(["user.content", "user.contact"]),
                              due_at=rng.choice([None, at(rng.randrange(100)).isoformat()]),
                              state=rng.choice(["scheduled", "scheduled", "held"])))
        whole = schedules(log)
        for size in (1, 2, 7, len(log)):
            live: dict = {}
            for i in range(0, len(log), size):
                fold_schedules(live, log[i:i + size])
            assert live == whole


def test_the_session_cookie_is_secure_off_loopback() -> None:
    from services.console.main import on_loopback

    for host in ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"):
        assert on_loopback(host), host
    for host in ("0.0.0.0", "::", "10.0.0.5", "console.example", "192.0.2.7"):
        assert not on_loopback(host), host
