"""Users of the web page: argon2-hashed passwords, roles, and CSRF tokens tied to the session."""

from __future__ import annotations

import contextlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select

from core.storage import Database
from core.storage.queue_tables import ROLES, UserRow
from core.storage.schema import utcnow
from monitor.queue.items import audit

log = logging.getLogger(__name__)

_HASHER = PasswordHasher()
#: Verified against when the username is unknown, so a login takes as long whether or not the user exists.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
MIN_PASSWORD_LENGTH = 10


class UserError(ValueError):
    """A user that cannot be created or changed as asked."""


@dataclass(frozen=True, slots=True)
class User:
    """A logged-in person: who, and what they may do."""

    id: int
    username: str
    role: str

    @property
    def is_admin(self) -> bool:
        """Return True for admins, who may manage users and saved replies and override claims."""
        return self.role == "admin"


def hash_password(password: str) -> str:
    """Return the argon2id hash of a password."""
    return _HASHER.hash(password)


def add_user(db: Database, username: str, password: str, *, role: str = "responder", actor: str = "cli",
             now: datetime | None = None) -> User:
    """Create a user with a hashed password; refuse weak passwords, unknown roles and taken names."""
    username = username.strip()
    if not username or len(username) > 200 or any(ch.isspace() for ch in username):
        raise UserError("a username is 1 to 200 characters without spaces")
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    now = now or utcnow()
    with db.session() as session:
        if session.execute(select(UserRow.id).where(UserRow.username == username)).scalar() is not None:
            raise UserError(f"user {username!r} already exists")
        row = UserRow(username=username, password_hash=hash_password(password), role=role, active=True,
                      created_at=now)
        session.add(row)
        session.flush()
        audit(session, actor=actor, action="user_added", at=now, detail={"username": username, "role": role})
        return User(row.id, row.username, row.role)


def authenticate(db: Database, username: str, password: str, *, now: datetime | None = None) -> User | None:
    """Return the user when the password matches an active account, else None."""
    with db.session() as session:
        row = session.execute(select(UserRow).where(UserRow.username == username.strip())).scalar()
        if row is None or not row.active:
            with contextlib.suppress(VerificationError):
                _HASHER.verify(_DUMMY_HASH, password)
            return None
        try:
            _HASHER.verify(row.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            log.info("failed login for user id %d", row.id)
            return None
        if _HASHER.check_needs_rehash(row.password_hash):
            row.password_hash = hash_password(password)
        row.last_login_at = now or utcnow()
        return User(row.id, row.username, row.role)


def change_password(db: Database, user_id: int, current: str, new: str, *, now: datetime | None = None) -> None:
    """Replace a user's password after checking the current one; audit the change."""
    if len(new) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(new) > 1024:
        raise UserError("a password is at most 1024 characters")
    now = now or utcnow()
    with db.session() as session:
        row = session.get(UserRow, user_id)
        if row is None or not row.active:
            raise UserError("no such active user")
        try:
            _HASHER.verify(row.password_hash, current)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            raise UserError("the current password is wrong") from None
        row.password_hash = hash_password(new)
        audit(session, actor=row.username, action="password_changed", at=now)


def load_user(db: Database, user_id: int) -> User | None:
    """Return the active user with this id, or None."""
    with db.session() as session:
        row = session.get(UserRow, user_id)
        return User(row.id, row.username, row.role) if row is not None and row.active else None


def list_users(db: Database) -> list[UserRow]:
    """Return every user, by name."""
    with db.session() as session:
        return list(session.execute(select(UserRow).order_by(UserRow.username)).scalars().all())


def new_csrf_token() -> str:
    """Return a fresh random token to store in the session and echo in every form."""
    return secrets.token_urlsafe(32)


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """Compare tokens in constant time; a missing token never matches."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
