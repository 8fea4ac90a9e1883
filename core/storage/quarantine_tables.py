"""Records a source read but could not store: rejected at normalising, or quarantined when storing still failed.

Every record a source reads is either a `mentions` row or a row here, with where it came from (file:line, or the
network's id), the reason and, for quarantined records, the raw payload, so nothing is ever lost silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.storage.schema import Base, IdType, JsonType

#: Why a record is in the table: refused by the source's checks, or refused by the database when stored.
REJECTED = "rejected"
QUARANTINED = "quarantined"
#: Text columns are cut to this many characters (the raw payload keeps the whole record).
MAX_REASON = 2000


class SourceRejectRow(Base):
    """One record a source read but did not store, with the reason and its raw payload."""

    __tablename__ = "source_rejects"
    __table_args__ = (Index("ix_source_rejects_source", "source_name", "id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    source_name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    location: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[Any | None] = mapped_column(JsonType, nullable=True)
    cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime]


def add_rejects(session: Session, source_name: str, rejects: Iterable[dict[str, Any]], *, now: datetime) -> int:
    """Insert reject rows (dicts with kind, location, reason, raw, cursor); return how many."""
    count = 0
    for reject in rejects:
        session.add(SourceRejectRow(
            source_name=source_name[:100],
            kind=str(reject.get("kind", REJECTED))[:16],
            location=str(reject.get("location", ""))[:MAX_REASON],
            reason=str(reject.get("reason", ""))[:MAX_REASON],
            raw=reject.get("raw"),
            cursor=reject.get("cursor"),
            created_at=now,
        ))
        count += 1
    return count


def reject_counts(session: Session) -> dict[str, dict[str, int]]:
    """Return {source name: {kind: count}} over every stored reject."""
    rows = session.execute(
        select(SourceRejectRow.source_name, SourceRejectRow.kind, func.count()).group_by(
            SourceRejectRow.source_name, SourceRejectRow.kind)
    )
    counts: dict[str, dict[str, int]] = {}
    for name, kind, count in rows:
        counts.setdefault(name, {})[kind] = int(count)
    return counts


def latest_rejects(session: Session, source_name: str, limit: int = 20) -> list[SourceRejectRow]:
    """Return a source's most recent rejects, newest first."""
    query = (select(SourceRejectRow).where(SourceRejectRow.source_name == source_name)
             .order_by(SourceRejectRow.id.desc()).limit(limit))
    return list(session.execute(query).scalars())
