"""The web page's application: FastAPI with signed-cookie sessions, login, roles, CSRF and escaped templates."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from alerts.base import Notifier
from core.settings import Secrets, Settings
from core.storage import Database
from core.storage.schema import utcnow
from monitor.pipeline.deliver import Deliverer
from monitor.queue.translate import LibreTranslateClient, TranslationError, translator_for
from monitor.web.context import HERE, SECURITY_HEADERS, LoginRequired, WebContext, _templates, ctx, safe_next
from monitor.web.login_routes import router as login_router
from monitor.web.routes import router as routes_router
from monitor.web.translation_routes import router as translation_router
from sources.base import Source

log = logging.getLogger(__name__)
__all__ = ["SecureCookies", "create_app", "safe_next"]
SESSION_COOKIE = "brandmon_session"


class SecureCookies:
    """ASGI middleware: mark the session cookie `Secure` whenever the browser reached us over HTTPS.

    That is a direct HTTPS request, `web.secure_cookies: true`, or (only with `web.trust_proxy_headers: true`)
    a reverse proxy saying `X-Forwarded-Proto: https`.
    """

    def __init__(self, app: Any, *, always: bool, trust_proxy: bool) -> None:
        self.app, self.always, self.trust_proxy = app, always, trust_proxy

    def _secure(self, scope: Mapping[str, Any]) -> bool:
        if self.always or scope.get("scheme") == "https":
            return True
        if not self.trust_proxy:
            return False
        for name, value in scope.get("headers") or []:
            if name == b"x-forwarded-proto":
                return value.decode("latin-1").split(",")[-1].strip().lower() == "https"
        return False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self._secure(scope):
            await self.app(scope, receive, send)
            return

        async def send_secure(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = []
                for name, value in message.get("headers") or []:
                    if (name.lower() == b"set-cookie" and value.startswith(SESSION_COOKIE.encode() + b"=")
                            and b"secure" not in value.lower()):
                        value += b"; Secure"
                    headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_secure)



def create_app(
    settings: Settings,
    db: Database,
    *,
    sources: Mapping[str, Source] | None = None,
    secrets_: Secrets | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> FastAPI:
    """Build the web application over one database; replies are posted through `sources` as soon as queued."""
    from monitor.queue.replies import ReplyNotifier

    secrets_ = secrets_ or Secrets()
    secret = secrets_.web_session_secret
    if secret is None:
        log.warning("BRANDMON_WEB_SESSION_SECRET is not set: using a random key, so logins end when brandmon restarts")
    key = secret.get_secret_value() if secret is not None else secrets.token_urlsafe(32)
    notifiers: dict[str, Notifier] = {"reply": ReplyNotifier(db, sources)} if sources is not None else {}
    deliverer = Deliverer(db, notifiers, messages_per_second=settings.slack.messages_per_second,
                          max_attempts=settings.slack.max_attempts, clock=clock) if notifiers else None
    translator, translator_error = _translator(settings, secrets_)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:  # `brandmon serve` stopping (or a test client leaving) closes the translator's connection pool
            if translator is not None:
                translator.close()

    app = FastAPI(title="brandmon", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.ctx = WebContext(settings, db, deliverer, clock, _templates(settings), translator=translator,
                               translator_error=translator_error, signing_key=key)
    app.add_middleware(
        SessionMiddleware,
        secret_key=key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.web.session_max_age_s,
        same_site="lax",
        https_only=settings.web.secure_cookies,
    )
    app.add_middleware(SecureCookies, always=settings.web.secure_cookies,
                       trust_proxy=settings.web.trust_proxy_headers)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def error_page(request: Request, exc: StarletteHTTPException) -> Response:
        body = ctx(request).templates.get_template("error.html").render(
            user=None, csrf_token="", messages=[], now=ctx(request).now(), settings=settings,
            status=exc.status_code, detail=str(exc.detail))
        return HTMLResponse(body, status_code=exc.status_code)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(login_router)
    app.include_router(routes_router)
    app.include_router(translation_router)
    app.include_router(_slack_actions(settings, db, secrets_, clock), prefix="/slack/actions")
    return app


def _translator(settings: Settings, secrets_: Secrets) -> tuple[LibreTranslateClient | None, str | None]:
    """Return the translation client (None when off) and why a configured one cannot be used."""
    try:
        return translator_for(settings, secrets_), None
    except TranslationError as exc:
        log.warning("translation is off: %s", exc)
        return None, f"Translation is off: {exc}"


def _slack_actions(settings: Settings, db: Database, secrets_: Secrets, clock: Callable[[], datetime]) -> Any:
    """Build Slack's interactivity endpoint: no login or CSRF here, Slack's request signature is checked instead."""
    from monitor.queue.categories import brand_categories
    from monitor.web.slack_actions import ActionHandler, build_router

    handler = ActionHandler(db, settings.slack, clock=clock, lease_min=settings.queue.lease_min, sla=settings.sla,
                            categories=brand_categories(settings.brands))
    secret = secrets_.slack_signing_secret
    return build_router(handler, signing_secret=secret.get_secret_value() if secret is not None else None,
                        max_age_s=settings.slack.signature_max_age_s)
