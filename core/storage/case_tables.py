"""Tables of cases: one row per customer conversation, and the posts (customer and brand) that make it up."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.schema import Base, IdType

#: Where a case stands: waiting on the brand, waiting on the customer, or done.
CASE_STATUSES = ("open", "replied", "resolved")
#: Who or what resolved a case.
RESOLVED_BY = ("responder", "not_relevant", "customer", "silence")


class CaseRow(Base):
    """One customer conversation with the brand (README, "Cases")."""

    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_brand_opened", "brand", "opened_at"),
                      Index("ix_cases_customer", "network", "customer_handle", "status"),
                      Index("ix_cases_quiet", "status", "last_brand_at"))

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    brand: Mapped[str] = mapped_column(String(200))
    network: Mapped[str] = mapped_column(String(32))
    customer_handle: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="open")
    #: The queue item the case was migrated from or is worked through, if any.
    queue_item_id: Mapped[int | None] = mapped_column(ForeignKey("queue_items.id", ondelete="SET NULL"),
                                                      unique=True)
    opened_at: Mapped[datetime]
    last_customer_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    #: "responder", "not_relevant" (a person), "customer" (thanks after a brand reply) or "silence"
    #: (`cases.auto_resolve_h`).
    resolved_by: Mapped[str | None] = mapped_column(String(16))
    post_count: Mapped[int] = mapped_column(Integer, default=1)
    brand_reply_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]
    #: The brand's latest post in the case: `cases.auto_resolve_h` of silence after it resolves the case.
    last_brand_at: Mapped[datetime | None]
    #: The case's Slack message (an outbox row), kept current with chat.update; follow-ups go in its thread.
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id", ondelete="SET NULL"))
    #: When the case first needed a response (its queue item's post) and the first-response deadline from then.
    needs_response_at: Mapped[datetime | None]
    first_response_due: Mapped[datetime | None]


class CasePostRow(Base):
    """A post in a case: the customer's, or the brand's own reply (sent through brandmon or natively)."""

    __tablename__ = "case_posts"
    __table_args__ = (UniqueConstraint("network", "external_id", name="uq_case_posts_network_external_id"),
                      Index("ix_case_posts_case", "case_id", "created_at"),
                      Index("ix_case_posts_thread", "network", "thread_key"))

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    mention_id: Mapped[int | None] = mapped_column(ForeignKey("mentions.id", ondelete="SET NULL"))
    network: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    #: The post this one answers (for a brand reply: the customer's post).
    parent_external_id: Mapped[str | None] = mapped_column(String(128))
    author: Mapped[str] = mapped_column(String(200))
    from_brand: Mapped[bool] = mapped_column(Boolean, default=False)
    #: For a brand reply: "brandmon" (posted through the outbox) or "native" (typed in the network's app).
    via: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]
    #: The conversation the post belongs to: its thread's first post, or "root/author" for each customer's
    #: replies to a brand's own post (a broadcast is many customers' conversations, not one).
    thread_key: Mapped[str | None] = mapped_column(String(400))
