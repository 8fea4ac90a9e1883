"""Tables of the Slack alerting area: incidents (clusters of near-duplicate posts, spikes) and their members."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.schema import Base, IdType, JsonType


class IncidentRow(Base):
    """One story told to one channel: posted once, then kept current with chat.update."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_open", "brand", "rule", "status", "last_post_at"),
        Index("ix_incidents_rule_created", "rule", "created_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    #: "cluster" (near-duplicate posts) or "spike" (volume or negative share far above normal).
    kind: Mapped[str] = mapped_column(String(16))
    brand: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(200))
    #: "open" grows and notifies; "dismissed" (marked not relevant) absorbs quietly; "closed" is history.
    status: Mapped[str] = mapped_column(String(16), default="open")
    category: Mapped[str] = mapped_column(String(32))
    #: Exact signature keys of its members (links, retweeted posts, opening words, category).
    keys: Mapped[list[str]] = mapped_column(JsonType)
    lead_mention_id: Mapped[int | None] = mapped_column(ForeignKey("mentions.id", ondelete="SET NULL"))
    root_outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))
    member_count: Mapped[int] = mapped_column(Integer, default=0)
    thread_replies: Mapped[int] = mapped_column(Integer, default=0)
    max_urgency: Mapped[float] = mapped_column(Float, default=0.0)
    first_post_at: Mapped[datetime]
    last_post_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    #: Who pressed which button, newest last: [{"action", "by", "at", "note"}].
    acted: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    #: Kind-specific facts: a spike's counts, baseline, top terms and examples.
    detail: Mapped[dict[str, Any]] = mapped_column(JsonType)


class IncidentMemberRow(Base):
    """A post that joined an incident, why it joined, and its wording fingerprint for later matches."""

    __tablename__ = "incident_members"
    __table_args__ = (Index("ix_incident_members_mention", "mention_id"),)

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"), primary_key=True)
    joined_at: Mapped[datetime]
    post_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
    keys: Mapped[list[str]] = mapped_column(JsonType)
    shingles: Mapped[list[int]] = mapped_column(JsonType)
    #: The thread reply that showed this post, if one was sent.
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))
