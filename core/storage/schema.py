"""The tables every pipeline step writes; one row per step's output, so each step can resume."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

JsonType = JSON().with_variant(JSONB(), "postgresql")
#: SQLite's INTEGER PRIMARY KEY is its rowid; PostgreSQL gets a 64-bit identity.
IdType = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Store datetimes as UTC and always hand back aware UTC datetimes, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} cannot be stored; brandmon stores UTC-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Return the current time, UTC-aware."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every brandmon table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JsonType, datetime: UTCDateTime}


class MentionRow(Base):
    """A stored post; (network, external_id) is unique so re-ingesting is a no-op."""

    __tablename__ = "mentions"
    __table_args__ = (
        UniqueConstraint("network", "external_id", name="uq_mentions_network_external_id"),
        Index("ix_mentions_brand_created_at", "brand", "created_at"),
        Index("ix_mentions_author", "network", "author_handle"),
        Index("ix_mentions_conversation", "network", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    network: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    brand: Mapped[str] = mapped_column(String(200))
    source_name: Mapped[str] = mapped_column(String(100))
    author_handle: Mapped[str] = mapped_column(String(200))
    author_name: Mapped[str] = mapped_column(String(400))
    author_followers: Mapped[int | None] = mapped_column(BigInteger)
    author_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    ingested_at: Mapped[datetime]
    conversation_id: Mapped[str | None] = mapped_column(String(128))
    parent_id: Mapped[str | None] = mapped_column(String(128))
    reply_path: Mapped[str] = mapped_column(String(32), default="api")
    reply_path_reason: Mapped[str | None] = mapped_column(Text)
    #: The author @-mentioned, quoted or answered the brand (`Mention.addressed`).
    addressed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    raw: Mapped[dict[str, Any]]


class SourceStateRow(Base):
    """Per-source cursor and health: where to resume, and whether to skip for now."""

    __tablename__ = "source_state"

    source_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    disabled_until: Mapped[datetime | None]
    fatal_error: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    exhausted: Mapped[bool] = mapped_column(Boolean, default=False)


class ClassificationRow(Base):
    """The classifier's scores for one mention."""

    __tablename__ = "classifications"

    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    sentiment: Mapped[str] = mapped_column(String(16))
    sentiment_probs: Mapped[dict[str, Any]]
    complaint: Mapped[bool] = mapped_column(Boolean)
    complaint_prob: Mapped[float] = mapped_column(Float)
    severity: Mapped[int] = mapped_column(Integer)
    urgency_score: Mapped[float] = mapped_column(Float)
    urgency_category: Mapped[str] = mapped_column(String(32))
    #: The category the model read (a brand's own keeps its name here, "other" in `urgency_category`);
    #: NULL: the same as `urgency_category` (rows from before migration 0011, classifiers without categories).
    category: Mapped[str | None] = mapped_column(String(64))
    #: How sure the model was of `category` (1.0 after a person's correction); NULL when unknown.
    category_prob: Mapped[float | None] = mapped_column(Float)
    urgency_level: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(16))
    needs_human: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_human_reason: Mapped[str | None] = mapped_column(Text)
    matched_query: Mapped[bool] = mapped_column(Boolean, default=True)
    explanation: Mapped[dict[str, Any]]
    classified_at: Mapped[datetime]


class RoutingRow(Base):
    """Marks a classified mention as routed, with the rules it matched."""

    __tablename__ = "routings"

    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"), primary_key=True)
    routed_at: Mapped[datetime]
    matched_rules: Mapped[dict[str, Any]]


class AlertRow(Base):
    """A decision to tell a Slack channel about a mention."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("mention_id", "rule", name="uq_alerts_mention_rule"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))
    suppressed_reason: Mapped[str | None] = mapped_column(Text)


class OutboxRow(Base):
    """One outbound message; it stays here with its error and next attempt until delivered."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(200))
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    sending_since: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None] = mapped_column(JsonType)


class QueueItemRow(Base):
    """A post waiting for a responder, with its SLA deadlines."""

    __tablename__ = "queue_items"
    __table_args__ = (Index("ix_queue_order", "status", "urgency_score", "first_response_due"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"), unique=True)
    brand: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="new")
    urgency_score: Mapped[float] = mapped_column(Float)
    urgency_level: Mapped[str] = mapped_column(String(16))
    urgency_category: Mapped[str] = mapped_column(String(32))
    #: The post's category under its own name (a brand's own one); NULL: the same as `urgency_category`.
    category: Mapped[str | None] = mapped_column(String(64))
    first_response_due: Mapped[datetime]
    resolution_due: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    snoozed_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)


class ReplyRow(Base):
    """A responder's public reply and what the network said when it was posted."""

    __tablename__ = "replies"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    queue_item_id: Mapped[int] = mapped_column(ForeignKey("queue_items.id", ondelete="CASCADE"))
    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))
    external_id: Mapped[str | None] = mapped_column(String(128))
    url: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    posted_at: Mapped[datetime | None]


class AuditRow(Base):
    """Append-only record of who did what to which item, and when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_item", "queue_item_id", "at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    queue_item_id: Mapped[int | None] = mapped_column(ForeignKey("queue_items.id", ondelete="SET NULL"))
    mention_id: Mapped[int | None] = mapped_column(ForeignKey("mentions.id", ondelete="SET NULL"))
    detail: Mapped[dict[str, Any]]
