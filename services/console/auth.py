"""Login, sessions and CSRF for the console.

Login is by a one-time link: the console keeps one random login token in
``<data dir>/console/login-token`` (mode 0600, readable by whoever may run ``lethe`` on this
deployment); ``lethe status --json`` turns it into the console's ``url``. Using it starts a session
and replaces the token, so a link works once. The session is a random id in a cookie (HttpOnly,
SameSite=Strict, path /) naming a server-side session with its own CSRF token; every POST must
carry that token in the form field ``csrf`` or is refused with 403. Sessions end after
:data:`IDLE_S` without use or :data:`MAX_AGE_S` in all.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

COOKIE = "lethe_console"
IDLE_S = 30 * 60
MAX_AGE_S = 12 * 3600
PUBLIC_PATHS = ("/login", "/healthz", "/static/")


@dataclass
class Session:
    """One signed-in browser: its CSRF token, the subject it looks at, a one-shot message."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    started: float = field(default_factory=time.monotonic)
    seen: float = field(default_factory=time.monotonic)
    account_id: str = ""  # the subject looked up on the Subject page; never put in a URL
    flash: str = ""

    def take_flash(self) -> str:
        """The pending message, once."""
        message, self.flash = self.flash, ""
        return message


class LoginTokens:
    """The one-time login token, kept in a 0600 file so that the local CLI can show the link."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.issue()

    def issue(self) -> str:
        """Write a fresh token (replacing the previous one) and return it."""
        token = secrets.token_urlsafe(32)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(token)
        os.replace(tmp, self.path)
        self._token = token
        return token

    @property
    def current(self) -> str:
        """The token a login link carries now."""
        return self._token

    def consume(self, token: str) -> bool:
        """True (and a new token is issued) when ``token`` is the current one."""
        with self._lock:
            if not token or not secrets.compare_digest(token.encode(), self._token.encode()):
                return False
            self.issue()
            return True


class Sessions:
    """Server-side sessions by random id."""

    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def start(self) -> tuple[str, Session]:
        """A new session and its cookie value."""
        sid, session = secrets.token_urlsafe(32), Session()
        with self._lock:
            self._by_id[sid] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        """The live session for a cookie value, or None (expired ones are dropped)."""
        if not sid:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._by_id.get(sid)
            if session and (now - session.seen > IDLE_S or now - session.started > MAX_AGE_S):
                del self._by_id[sid]
                session = None
            if session:
                session.seen = now
            return session

    def end(self, sid: str | None) -> None:
        """Sign out."""
        with self._lock:
            self._by_id.pop(sid or "", None)


def session_of(request: Request) -> Session:
    """The request's session (the middleware guarantees one on non-public paths)."""
    return request.state.session


async def checked_form(request: Request) -> Any:
    """The POSTed form, after checking its CSRF token against the session's; 403 otherwise."""
    form = await request.form()
    session = getattr(request.state, "session", None)
    sent = str(form.get("csrf", ""))
    if session is None or not sent or not secrets.compare_digest(sent.encode(), session.csrf.encode()):
        raise HTTPException(403, "missing or wrong CSRF token")
    return form


def set_cookie(response: Any, sid: str, secure: bool) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, whole site, not readable by scripts."""
    response.set_cookie(COOKIE, sid, httponly=True, samesite="strict", secure=secure, path="/",
                        max_age=MAX_AGE_S)
