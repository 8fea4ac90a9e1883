"""Tables that keep the web page and Slack endpoint honest: server-side sessions, login throttles, Slack nonces."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.schema import Base, IdType


class WebSessionRow(Base):
    """One login: the cookie carries only `id`; logout or a password change sets `revoked_at`."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user", "user_id"),)

    #: SHA-256 (hex) of the random session id the cookie carries, so a database read alone cannot log anyone in.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    address: Mapped[str | None] = mapped_column(String(64))


class LoginThrottleRow(Base):
    """Failed logins in a row for one username or one client address, and until when that key must wait."""

    __tablename__ = "login_throttle"

    #: "user:<name>" or "addr:<address>".
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failed_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]


class SlackNonceRow(Base):
    """A signed Slack request already accepted; the same signature again is a replay."""

    __tablename__ = "slack_nonces"
    __table_args__ = (Index("ix_slack_nonces_seen", "seen_at"),)

    #: SHA-256 (hex) of "timestamp:signature".
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime]
