"""Login, logout and the password-change page, with per-user and per-address throttling and audited failures."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from monitor.queue.items import audit
from monitor.web.auth import User, UserError, authenticate, change_password, new_csrf_token
from monitor.web.context import (
    CurrentUser,
    client_address,
    ctx,
    flash,
    redirect,
    render,
    require_csrf,
    safe_next,
    signed_in,
)
from monitor.web.sessions import (
    ThrottleKeys,
    record_failure,
    record_success,
    retry_after,
    revoke_session,
    revoke_user_sessions,
    start_session,
)

log = logging.getLogger(__name__)
router = APIRouter()
CSRF = [Depends(require_csrf)]
#: Longest username or password looked at; anything longer is simply wrong (argon2 need not hash megabytes).
MAX_CREDENTIAL = 1024


def _audit_failure(request: Request, action: str, username: str, address: str, **detail: object) -> None:
    context = ctx(request)
    with context.db.session() as session:
        audit(session, actor="web-login", action=action, at=context.now(),
              detail={"username": username[:200].replace("\x00", "\ufffd"), "address": address[:64], **detail})


def _throttled(request: Request, template: str, wait: int, **values: object) -> Response:
    response = render(request, template, status_code=429,
                      error=f"too many failed logins; try again in {wait} seconds", **values)  # type: ignore[arg-type]
    response.headers["Retry-After"] = str(wait)
    return response


def _begin(request: Request, user_id: int, username: str, role: str) -> None:
    """Start a fresh server-side session: nothing from before the login survives it."""
    context = ctx(request)
    token = start_session(context.db, User(user_id, username, role), now=context.now(),
                          max_age_s=context.settings.web.session_max_age_s, address=client_address(request))
    request.session.clear()
    request.session.update(sid=token, csrf=new_csrf_token())


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    """Show the login form (or go straight on when already logged in)."""
    if signed_in(request) is not None:
        return redirect(safe_next(next))
    return render(request, "login.html", user=None, next=safe_next(next), error=None)


@router.post("/login", dependencies=CSRF)
def login(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/")) -> Response:
    """Check the password unless the username or address must wait; on success start a fresh session."""
    context = ctx(request)
    address = client_address(request)
    keys = ThrottleKeys.of(username, address)
    target = safe_next(next[:2000])
    wait = retry_after(context.db, keys, now=context.now())
    if wait:
        _audit_failure(request, "login_throttled", username, address, retry_after_s=wait)
        return _throttled(request, "login.html", wait, user=None, next=target)
    user = None
    if len(username) <= MAX_CREDENTIAL and len(password) <= MAX_CREDENTIAL and "\x00" not in username:
        user = authenticate(context.db, username, password, now=context.now())
    if user is None:
        imposed = record_failure(context.db, keys, now=context.now())
        _audit_failure(request, "login_failed", username, address, wait_s=imposed)
        return render(request, "login.html", user=None, next=target, error="wrong username or password",
                      status_code=401)
    record_success(context.db, keys)
    _begin(request, user.id, user.username, user.role)
    with context.db.session() as session:
        audit(session, actor=user.username, action="logged_in", at=context.now(), detail={"address": address[:64]})
    return redirect(target)


@router.post("/logout", dependencies=CSRF)
def logout(request: Request) -> Response:
    """End the session on the server too, so a copy of the cookie is worthless afterwards."""
    revoke_session(ctx(request).db, request.session.get("sid"), now=ctx(request).now())
    request.session.clear()
    return redirect("/login")


@router.get("/account/password")
def password_page(request: Request, user: CurrentUser) -> Response:
    """Show the password-change form."""
    return render(request, "password.html", user=user, error=None)


@router.post("/account/password", dependencies=CSRF)
def password_change(request: Request, user: CurrentUser, current: str = Form(""), new: str = Form(""),
                    confirm: str = Form("")) -> Response:
    """Change the password (the current one is throttled like a login); every other session of the user ends."""
    context = ctx(request)
    address = client_address(request)
    keys = ThrottleKeys.of(user.username, address)
    wait = retry_after(context.db, keys, now=context.now())
    if wait:
        return _throttled(request, "password.html", wait, user=user)
    if new != confirm:
        return render(request, "password.html", user=user, error="the new passwords differ", status_code=400)
    try:
        change_password(context.db, user.id, current[:MAX_CREDENTIAL + 1], new, now=context.now())
    except UserError as exc:
        if "current password" in str(exc):
            record_failure(context.db, keys, now=context.now())
            _audit_failure(request, "password_change_failed", user.username, address)
        return render(request, "password.html", user=user, error=str(exc), status_code=400)
    revoke_user_sessions(context.db, user.id, now=context.now())
    _begin(request, user.id, user.username, user.role)
    flash(request, "ok", "Password changed; every other session of yours has been logged out.")
    return redirect("/")
