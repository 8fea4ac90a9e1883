"""Server-side login sessions and login throttling, both kept in the database so every web worker agrees.

The session cookie (signed by Starlette) carries only a random session id; the row it names says whose session
it is, until when, and whether logout or a password change has revoked it. A copied cookie therefore dies with
the session. Failed logins are counted per username and per client address; past a few free tries each key must
wait, doubling with every further failure up to a cap, and a login that arrives while a key waits is refused
(429 with Retry-After) before its password is even checked.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from core.storage import Database, insert_ignore
from core.storage.queue_tables import UserRow
from core.storage.web_tables import LoginThrottleRow, WebSessionRow
from monitor.web.auth import User

#: Failures a username may have before it must wait; an address (perhaps shared behind NAT) gets more.
FREE_USER_FAILURES = 5
FREE_ADDRESS_FAILURES = 20
#: The first wait, doubled with each further failure, and the longest wait.
BASE_DELAY_S = 1.0
MAX_DELAY_S = 15 * 60.0
#: A key that has not failed for this long starts again from zero.
FORGET_AFTER = timedelta(hours=1)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def start_session(db: Database, user: User, *, now: datetime, max_age_s: int, address: str | None = None) -> str:
    """Store a new session for `user`; return the random id the cookie is to carry."""
    token = secrets.token_urlsafe(32)
    with db.session() as session:
        session.add(WebSessionRow(id=_digest(token), user_id=user.id, created_at=now,
                                  expires_at=now + timedelta(seconds=max_age_s), revoked_at=None,
                                  address=(address or "")[:64] or None))
        # sessions that ended long ago are of no further use
        session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < now - timedelta(days=7)))
    return token


def session_user(db: Database, token: object, *, now: datetime) -> User | None:
    """Return the active user of a live, unrevoked session, or None."""
    if not isinstance(token, str) or not token or len(token) > 200:
        return None
    with db.session() as session:
        row = session.execute(
            select(WebSessionRow, UserRow).join(UserRow, UserRow.id == WebSessionRow.user_id)
            .where(WebSessionRow.id == _digest(token))
        ).first()
    if row is None:
        return None
    stored, user = row
    if stored.revoked_at is not None or stored.expires_at <= now or not user.active:
        return None
    return User(user.id, user.username, user.role)


def revoke_session(db: Database, token: object, *, now: datetime) -> None:
    """End one session (logout)."""
    if isinstance(token, str) and token:
        with db.session() as session:
            session.execute(update(WebSessionRow).where(WebSessionRow.id == _digest(token),
                                                        WebSessionRow.revoked_at.is_(None)).values(revoked_at=now))


def revoke_user_sessions(db: Database, user_id: int, *, now: datetime) -> int:
    """End every session of a user (a password change); return how many were live."""
    with db.session() as session:
        result = session.execute(update(WebSessionRow).where(WebSessionRow.user_id == user_id,
                                                             WebSessionRow.revoked_at.is_(None))
                                 .values(revoked_at=now))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ThrottleKeys:
    """The keys one login attempt is counted under."""

    user: str
    address: str

    @classmethod
    def of(cls, username: str, address: str | None) -> ThrottleKeys:
        """Build the keys for a username (case- and space-insensitive) and a client address."""
        name = username.strip().casefold()[:200].replace("\x00", "\ufffd")  # PostgreSQL refuses NUL in text
        return cls(f"user:{name}", f"addr:{(address or 'unknown')[:64]}")

    def free_failures(self, key: str) -> int:
        """Return how many failures `key` may have before it must wait."""
        return FREE_USER_FAILURES if key == self.user else FREE_ADDRESS_FAILURES


def retry_after(db: Database, keys: ThrottleKeys, *, now: datetime) -> int:
    """Return whole seconds until a login under `keys` may be tried again (0: it may be tried now)."""
    with db.session() as session:
        rows = session.execute(select(LoginThrottleRow.locked_until).where(
            LoginThrottleRow.key.in_((keys.user, keys.address)))).scalars().all()
    waits = [(until - now).total_seconds() for until in rows if until is not None and until > now]
    return max((math.ceil(w) for w in waits), default=0)


def _delay(failures: int, free: int) -> float | None:
    if failures < free:
        return None
    return min(MAX_DELAY_S, BASE_DELAY_S * 2.0 ** min(failures - free, 30))


def record_failure(db: Database, keys: ThrottleKeys, *, now: datetime) -> int:
    """Count a failed login under both keys; return the longest wait it imposes, in whole seconds."""
    longest = 0.0
    with db.session() as session:
        for key in (keys.user, keys.address):
            insert_ignore(session, LoginThrottleRow, [{"key": key, "failures": 0, "last_failed_at": now,
                                                       "locked_until": None}], conflict=("key",))
            row = session.execute(select(LoginThrottleRow).where(LoginThrottleRow.key == key)
                                  .with_for_update()).scalar_one()
            failures = 0 if row.last_failed_at < now - FORGET_AFTER else row.failures
            row.failures, row.last_failed_at = failures + 1, now
            delay = _delay(row.failures, keys.free_failures(key))
            row.locked_until = now + timedelta(seconds=delay) if delay is not None else None
            longest = max(longest, delay or 0.0)
    return math.ceil(longest)


def record_success(db: Database, keys: ThrottleKeys) -> None:
    """Forget the username's failures after a correct password (the address keeps its count)."""
    with db.session() as session:
        session.execute(delete(LoginThrottleRow).where(LoginThrottleRow.key == keys.user))
