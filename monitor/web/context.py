"""What every page handler shares: the request's context, the signed-in user, CSRF, flash messages, rendering."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from core.settings import Settings
from core.storage import Database
from monitor.pipeline.deliver import Deliverer
from monitor.queue.items import format_due, minutes_left
from monitor.queue.translate import LibreTranslateClient
from monitor.web.auth import User, csrf_matches, new_csrf_token
from monitor.web.sessions import session_user
from monitor.web.untrusted import href, isolate, visible

log = logging.getLogger(__name__)


HERE = Path(__file__).resolve().parent
#: No script may run on these pages at all: even a string that escaped escaping could not execute.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class LoginRequired(Exception):
    """The request needs a logged-in user; the handler sends the browser to the login page."""


@dataclass
class WebContext:
    """What every page handler needs: settings, database, a reply deliverer, the clock, the translator."""

    settings: Settings
    db: Database
    deliverer: Deliverer | None
    clock: Callable[[], datetime]
    templates: Environment
    #: The LibreTranslate client (`translation.url`), None when translation is off or cannot be used.
    translator: LibreTranslateClient | None = None
    #: Why a configured translator cannot be used (shown on the page instead of a translation).
    translator_error: str | None = None
    #: The key signing what a form must carry back unaltered (a proposed reply translation).
    signing_key: str = ""

    def now(self) -> datetime:
        """Return the current time, UTC-aware."""
        return self.clock()


def _templates(settings: Settings) -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    zone = ZoneInfo(settings.sla.timezone)

    def localtime(value: datetime | None) -> str:
        return "" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")

    env.filters["localtime"] = localtime
    env.filters["due"] = lambda due, now: format_due(minutes_left(due, now))
    env.filters["words"] = lambda value: str(value).replace("_", " ")
    env.filters["u"] = isolate  # every untrusted string: escaped, <bdi>-isolated, controls shown
    env.filters["visible"] = visible  # for attributes and other places markup cannot go
    env.filters["href"] = href  # untrusted URLs in links: controls percent-encoded
    return env


def ctx(request: Request) -> WebContext:
    """Return the application's context."""
    return request.app.state.ctx  # type: ignore[no-any-return]


def signed_in(request: Request) -> User | None:
    """Return the user of this request's live server-side session, or None."""
    return session_user(ctx(request).db, request.session.get("sid"), now=ctx(request).now())


def current_user(request: Request) -> User:
    """Return the logged-in user, or send the browser to the login page."""
    user = signed_in(request)
    if user is None:
        raise LoginRequired()
    return user


def _forwarded(request: Request, header: str) -> str | None:
    """Return the last value the trusted proxy put in a forwarding header, or None when it is not trusted."""
    if not ctx(request).settings.web.trust_proxy_headers:
        return None
    value = request.headers.get(header, "")
    last = value.split(",")[-1].strip()
    return last or None


def client_address(request: Request) -> str:
    """Return the client's address: the proxy's word for it when trusted, else the peer's."""
    return _forwarded(request, "x-forwarded-for") or (request.client.host if request.client else "unknown")


def is_https(request: Request) -> bool:
    """Return True when the browser reached us over HTTPS (directly, or through a trusted proxy that says so)."""
    return request.url.scheme == "https" or (_forwarded(request, "x-forwarded-proto") or "").lower() == "https"


MAX_FIELD = 20_000


def clean(value: str, *, field: str, limit: int = MAX_FIELD) -> str:
    """Return a text input as given, or refuse (400) one that is too long or carries NUL (PostgreSQL refuses it)."""
    if len(value) > limit or "\x00" in value:
        raise HTTPException(status_code=400, detail=f"{field} is longer than {limit} characters or contains NUL")
    return value


CurrentUser = Annotated[User, Depends(current_user)]


def admin_user(user: CurrentUser) -> User:
    """Return the logged-in user if they are an admin; refuse everyone else."""
    if not user.is_admin:
        raise HTTPException(status_code=403, detail="only admins may do this")
    return user


AdminUser = Annotated[User, Depends(admin_user)]


def csrf_token(request: Request) -> str:
    """Return the session's CSRF token, creating one on first use."""
    token = request.session.get("csrf")
    if not token:
        token = new_csrf_token()
        request.session["csrf"] = token
    return str(token)


async def require_csrf(request: Request) -> None:
    """Refuse a form post whose CSRF token or Origin does not belong to this session and site."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        expected = f"{'https' if is_https(request) else request.url.scheme}://{request.url.netloc}"
        if origin.rstrip("/") != expected:
            raise HTTPException(status_code=403, detail="cross-site form post refused")
    form = await request.form()
    if not csrf_matches(request.session.get("csrf"), str(form.get("csrf_token") or "")):
        raise HTTPException(status_code=403, detail="the form's security token is missing or stale; reload the page")


def flash(request: Request, kind: str, message: str) -> None:
    """Queue a message for the next page this session renders."""
    request.session.setdefault("flash", [])
    request.session["flash"] = [*request.session["flash"], [kind, message]][-5:]


def render(request: Request, template: str, *, user: User | None, status_code: int = 200, **values: Any) -> Response:
    """Render a template with the user, CSRF token, flashed messages and the clock."""
    context = ctx(request)
    messages = request.session.pop("flash", [])
    body = context.templates.get_template(template).render(
        user=user, csrf_token=csrf_token(request), messages=messages, now=context.now(),
        settings=context.settings, **values)
    return HTMLResponse(body, status_code=status_code)


def redirect(path: str) -> RedirectResponse:
    """Redirect a form post to a page of this site (303, so the browser GETs it)."""
    return RedirectResponse(path, status_code=303)


def safe_next(target: str | None) -> str:
    """Return `target` if it is a path on this site, else "/", so a login link cannot send people elsewhere."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
