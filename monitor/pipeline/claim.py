"""Claim the next batch of work a step has not done yet, oldest first, once per backlog scan."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeAlias

from sqlalchemy import Select
from sqlalchemy.orm import Session

from core.storage import Database
from core.storage.schema import MentionRow

#: A select of any row shape (SQLAlchemy types a select by its columns).
Statement: TypeAlias = "Select[*tuple[Any, ...]]"


def claim_batches(
    db: Database,
    query: Callable[[int], Statement],
    *,
    batch_size: int,
    limit: int | None = None,
    skip_locked: bool = False,
    row_id: Callable[[Any], int] = lambda row: int(row[0]),
) -> Iterator[tuple[Session, Sequence[Any]]]:
    """Yield (session, rows) batch by batch; the caller does its work inside the session before the next batch.

    `query(after_id)` selects the undone rows whose mention id is above `after_id`, ordered by mention id; each
    batch starts after the last one, so a long backlog is scanned once, not once per batch. With `skip_locked`
    on PostgreSQL each batch stays locked (`FOR UPDATE SKIP LOCKED`) until its session commits, so several
    workers take different rows at the same time.
    """
    after_id = 0
    taken = 0
    while limit is None or taken < limit:
        size = batch_size if limit is None else min(batch_size, limit - taken)
        statement = query(after_id).limit(size)
        if skip_locked and db.dialect == "postgresql":
            statement = statement.with_for_update(skip_locked=True, of=MentionRow)
        with db.session() as session:
            rows = session.execute(statement).all()
            if not rows:
                return
            yield session, rows
        taken += len(rows)
        after_id = row_id(rows[-1])
        if len(rows) < size:
            return
