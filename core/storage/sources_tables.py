"""Tables of the sources area: API usage and estimated spend per source per day, and deletion-sweep checks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, UniqueConstraint, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.storage import Database
from core.storage.schema import Base, IdType


class SourceUsageRow(Base):
    """Billable units a source used on one UTC day, by kind ("post_read", "owned_read", "post_write"...)."""

    __tablename__ = "source_usage"
    __table_args__ = (UniqueConstraint("source_name", "day", "kind", name="uq_source_usage_day_kind"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    source_name: Mapped[str] = mapped_column(String(100))
    network: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(32))
    units: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)


class MentionCheckRow(Base):
    """When the deletion sweep last asked the network whether a stored post still exists."""

    __tablename__ = "mention_checks"
    __table_args__ = (Index("ix_mention_checks_checked_at", "checked_at"),)

    mention_id: Mapped[int] = mapped_column(ForeignKey("mentions.id", ondelete="CASCADE"), primary_key=True)
    checked_at: Mapped[datetime]


@dataclass(frozen=True, slots=True)
class UsageLine:
    """One kind of usage to add to a source's day."""

    kind: str
    units: int
    requests: int
    cost_usd: float


def record_usage(db: Database, *, source_name: str, network: str, day: date, lines: Iterable[UsageLine]) -> None:
    """Add usage lines to the source's totals for `day` (one upsert per kind, in one transaction)."""
    lines = [line for line in lines if line.units or line.requests]
    if not lines:
        return
    with db.session() as session:
        dialect = session.get_bind().dialect.name
        insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
        for line in lines:
            statement = insert_fn(SourceUsageRow).values(
                source_name=source_name, network=network, day=day, kind=line.kind,
                units=line.units, requests=line.requests, cost_usd=line.cost_usd,
            )
            excluded = statement.excluded
            session.execute(statement.on_conflict_do_update(
                index_elements=["source_name", "day", "kind"],
                set_={
                    "units": SourceUsageRow.units + excluded.units,
                    "requests": SourceUsageRow.requests + excluded.requests,
                    "cost_usd": SourceUsageRow.cost_usd + excluded.cost_usd,
                },
            ))


def drain_source_usage(db: Database, source: Any, *, now: datetime) -> float:
    """Move what a metered source counted since the last call into its row for today; return the cost."""
    meter = getattr(source, "meter", None)
    if meter is None:
        return 0.0
    lines = [UsageLine(u.kind, u.units, u.requests, u.cost_usd) for u in meter.drain()]
    try:
        record_usage(db, source_name=source.name, network=source.network, day=now.date(), lines=lines)
    except Exception:
        for line in lines:  # keep the counts for the next call rather than lose them
            meter.add(line.kind, line.units, requests=line.requests)
        raise
    return sum(line.cost_usd for line in lines)


@dataclass(frozen=True, slots=True)
class UsageTotal:
    """A source's usage over a period."""

    units_by_kind: dict[str, int]
    requests: int
    cost_usd: float


def usage_since(session: Session, first_day: date) -> dict[str, UsageTotal]:
    """Return each source's usage from `first_day` on (inclusive)."""
    rows = session.execute(
        select(SourceUsageRow.source_name, SourceUsageRow.kind, func.sum(SourceUsageRow.units),
               func.sum(SourceUsageRow.requests), func.sum(SourceUsageRow.cost_usd))
        .where(SourceUsageRow.day >= first_day)
        .group_by(SourceUsageRow.source_name, SourceUsageRow.kind)
    ).all()
    totals: dict[str, UsageTotal] = {}
    for source_name, kind, units, requests, cost in rows:
        current = totals.get(source_name, UsageTotal({}, 0, 0.0))
        totals[source_name] = UsageTotal(
            {**current.units_by_kind, kind: int(units or 0)},
            current.requests + int(requests or 0),
            current.cost_usd + float(cost or 0.0),
        )
    return totals


__all__ = ["MentionCheckRow", "SourceUsageRow", "UsageLine", "UsageTotal", "drain_source_usage", "record_usage",
           "usage_since"]
