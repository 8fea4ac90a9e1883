"""Tables of the reply queue and its web page: users, saved replies, labelled examples, thread-seen markers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.schema import AuditRow, Base, IdType

ROLES = ("responder", "admin")


class AuditLogIsAppendOnly(RuntimeError):
    """Someone tried to change or delete an audit row."""


class UserRow(Base):
    """A person who can log in to the web page; the password is stored as an argon2 hash only."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16), default="responder")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class SavedReplyRow(Base):
    """A reply template with `{first_name}`-style variables; brand or network left empty fits any."""

    __tablename__ = "saved_replies"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    text: Mapped[str] = mapped_column(Text)
    brand: Mapped[str | None] = mapped_column(String(200))
    network: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str | None] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class LabelledExampleRow(Base):
    """A human correction of the classifier, kept with the post's text as a training example."""

    __tablename__ = "labelled_examples"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    mention_id: Mapped[int | None] = mapped_column(ForeignKey("mentions.id", ondelete="SET NULL"))
    brand: Mapped[str] = mapped_column(String(200))
    network: Mapped[str] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    sentiment: Mapped[str] = mapped_column(String(16))
    complaint: Mapped[bool] = mapped_column(Boolean)
    urgency_category: Mapped[str] = mapped_column(String(32))
    #: What the model said before the correction, and which model said it.
    model_labels: Mapped[dict[str, Any]]
    origin: Mapped[str] = mapped_column(String(32), default="queue")
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class ThreadViewRow(Base):
    """What a responder last saw of an item's thread: a reply is refused if the thread has moved on since."""

    __tablename__ = "thread_views"
    __table_args__ = (UniqueConstraint("queue_item_id", "actor", name="uq_thread_views_item_actor"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    queue_item_id: Mapped[int] = mapped_column(ForeignKey("queue_items.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(200))
    newest_mention_id: Mapped[int] = mapped_column(IdType)
    reply_count: Mapped[int] = mapped_column(Integer)
    seen_at: Mapped[datetime]


@event.listens_for(AuditRow, "before_update")
def _refuse_audit_update(_mapper: Any, _connection: Any, target: AuditRow) -> None:
    raise AuditLogIsAppendOnly(f"audit_log row {target.id} cannot be changed: the audit log is append-only")


@event.listens_for(AuditRow, "before_delete")
def _refuse_audit_delete(_mapper: Any, _connection: Any, target: AuditRow) -> None:
    raise AuditLogIsAppendOnly(f"audit_log row {target.id} cannot be deleted: the audit log is append-only")
