"""The console's Starlette application: middleware (sessions), login, and each page's routes.

Pages live in :mod:`services.console.pages`, one module per concern, each exposing
``routes(console)``. Pages render server-side (Jinja2, autoescaped); a little CSS, no scripts.
Nothing personal goes in URLs (subjects are looked up by POST and kept in the session), in page
titles or in logs (the access log is off; errors are logged by code only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from services.console import auth
from services.console.backend import Backend, BackendError
from services.console.folds import RetentionFold, SubjectIndex
from shared.policy import Policy, load_policy

log = logging.getLogger("lethe.console")
TEMPLATES = Path(__file__).parent / "templates"
NAV = [("/requests", "Requests"), ("/subject", "Subject"), ("/holds", "Legal holds"),
       ("/retention", "Retention"), ("/recipients", "Recipients and transfers"),
       ("/audit", "Audit"), ("/records", "Records of processing")]


@dataclass
class Console:
    """What every page needs: the services, the templates, sessions, the policy."""

    backend: Backend
    state_dir: Path
    secure_cookie: bool = False
    sessions: auth.Sessions = field(default_factory=auth.Sessions)
    policy: Policy = field(default_factory=load_policy)
    templates: Jinja2Templates = field(default_factory=lambda: Jinja2Templates(directory=str(TEMPLATES)))
    last_verification: dict[str, Any] | None = None
    retention: RetentionFold = field(default_factory=RetentionFold)  # retention's log, by cursor
    subjects: SubjectIndex = field(default_factory=SubjectIndex)  # where subjects' events are

    def __post_init__(self) -> None:
        self.tokens = auth.LoginTokens(self.state_dir / "login-token")

    def render(self, request: Request, template: str, title: str, status: int = 200,
               **context: Any) -> Response:
        """A page with the layout, navigation, CSRF token and any pending message."""
        session = getattr(request.state, "session", None)
        return self.templates.TemplateResponse(request, template, {
            "title": title, "nav": NAV, "path": request.url.path,
            "csrf": session.csrf if session else "", "flash": session.take_flash() if session else "",
            **context}, status_code=status)


class SessionMiddleware(BaseHTTPMiddleware):
    """Every path but login and health needs a live session; else a redirect to /login."""

    def __init__(self, app: Any, console: Console) -> None:
        super().__init__(app)
        self.console = console

    async def dispatch(self, request: Request, call_next: Any) -> Response:  # noqa: D102
        session = self.console.sessions.get(request.cookies.get(auth.COOKIE))
        request.state.session = session
        if session is None and not request.url.path.startswith(auth.PUBLIC_PATHS):
            return RedirectResponse("/login", status_code=303)
        response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'self'; "
                                                       "img-src 'self'; form-action 'self'; "
                                                       "frame-ancestors 'none'")
        return response


def _login_routes(console: Console) -> list[Route]:
    async def login_page(request: Request) -> Response:
        token = request.query_params.get("token", "")
        if token:
            if not console.tokens.consume(token):
                return console.render(request, "login.html", "Sign in", status=403,
                                      error="This login link was already used or is wrong. "
                                            "Run `lethe status --json` for a new one.")
            sid, _ = console.sessions.start()
            response = RedirectResponse("/requests", status_code=303)
            auth.set_cookie(response, sid, console.secure_cookie)
            return response
        return console.render(request, "login.html", "Sign in")

    async def logout(request: Request) -> Response:
        await auth.checked_form(request)
        console.sessions.end(request.cookies.get(auth.COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(auth.COOKIE, path="/")
        return response

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def home(request: Request) -> Response:
        return RedirectResponse("/requests", status_code=303)

    async def stylesheet(request: Request) -> Response:
        return Response((TEMPLATES / "console.css").read_text(), media_type="text/css")

    return [Route("/login", login_page), Route("/logout", logout, methods=["POST"]),
            Route("/healthz", health), Route("/", home), Route("/static/console.css", stylesheet)]


def create_app(console: Console, hosts: list[str] | None = None) -> Starlette:
    """The console's ASGI application; ``hosts``: the Host headers it answers (DNS rebinding)."""
    from services.console.pages import audit, holds, recipients, records, requests, retention, subject

    routes = _login_routes(console)
    for page in (requests, subject, holds, retention, recipients, audit, records):
        routes += page.routes(console)

    async def http_error(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 500)
        message = getattr(exc, "detail", "error")
        return console.render(request, "error.html", "Error", status=code, message=message)

    async def backend_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BackendError)
        log.warning("service call refused or failed: %s", exc.code)
        status = 502 if exc.code == "UNAVAILABLE" else 409
        return console.render(request, "error.html", "Refused", status=status,
                              message=f"{exc.code}: {exc.message}")

    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=hosts or ["*"]),
                  Middleware(SessionMiddleware, console=console)]
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={HTTPException: http_error, BackendError: backend_error})
