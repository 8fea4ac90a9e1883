"""Backfill: read every enabled source to its end, then classify, route and queue what was read, once.

Posts older than `slack.max_age_min` when they are routed are history: they are queued closed (reopenable), their
old deadlines breach nothing, and they send no Slack alert. Anything recent that a backfill reads is routed as live.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from core.domain import Batch
from core.storage.schema import OutboxRow, QueueItemRow
from monitor.pipeline import Pipeline

#: Polls of one source at most: a live network that never says "exhausted" still ends.
MAX_POLLS = 100_000


class SinceFilter:
    """A source that drops what was posted before `since`; everything else is the wrapped source's."""

    def __init__(self, source: Any, since: datetime) -> None:
        self._source = source
        self._since = since
        self.skipped = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)

    def poll(self, cursor: str | None) -> Batch:
        """Poll the wrapped source and keep the mentions posted at or after `since`."""
        batch = self._source.poll(cursor)
        kept = tuple(mention for mention in batch.mentions if mention.created_at >= self._since)
        self.skipped += len(batch.mentions) - len(kept)
        return dataclasses.replace(batch, mentions=kept)


@dataclass(slots=True)
class SourceRead:
    """What a backfill read from one source."""

    name: str
    fetched: int = 0
    stored: int = 0
    skipped_before_since: int = 0
    polls: int = 0
    ended: str = "exhausted"


@dataclass(slots=True)
class BackfillSummary:
    """What one backfill did, for the summary it prints."""

    sources: list[SourceRead] = field(default_factory=list)
    classified: int = 0
    routed: int = 0
    queued_open: int = 0
    queued_history: int = 0
    messages_queued: dict[str, int] = field(default_factory=dict)
    messages_sent: int = 0
    messages_left: int = 0

    def lines(self) -> list[str]:
        """Return the summary as lines for a terminal."""
        out = []
        for read in self.sources:
            since = f", {read.skipped_before_since} before --since skipped" if read.skipped_before_since else ""
            out.append(f"  {read.name}: {read.fetched} read, {read.stored} new{since} ({read.ended} after "
                       f"{read.polls} polls)")
        out.append(f"  classified {self.classified}, routed {self.routed}")
        out.append(f"  queued {self.queued_open + self.queued_history}: {self.queued_open} open, "
                   f"{self.queued_history} as history (closed, no deadlines to breach)")
        slack = self.messages_queued.get("slack", 0)
        out.append(f"  Slack: {slack} messages for recent posts, {self.messages_sent} sent, {self.messages_left} "
                   "left in the outbox for `brandmon run`; history sends none")
        return out


def _read_to_end(pipeline: Pipeline, name: str, since: datetime | None,
                 progress: Callable[[SourceRead], None] | None) -> SourceRead:
    read = SourceRead(name)
    original = pipeline.sources[name]
    wrapper = SinceFilter(original, since) if since is not None else None
    if wrapper is not None:
        pipeline.sources[name] = wrapper  # type: ignore[assignment]
    try:
        while read.polls < MAX_POLLS:
            outcome = pipeline.poll(name)
            read.polls += 1
            read.fetched += outcome.fetched
            read.stored += outcome.stored
            if progress is not None:
                progress(read)
            if outcome.error or outcome.skipped_reason:
                read.ended = f"stopped: {outcome.error or outcome.skipped_reason}"
                break
            if outcome.exhausted or (outcome.fetched == 0 and not getattr(original, "path", None)):
                break
        else:
            read.ended = f"stopped at {MAX_POLLS} polls"
    finally:
        pipeline.sources[name] = original
    read.skipped_before_since = wrapper.skipped if wrapper is not None else 0
    read.fetched += read.skipped_before_since
    return read


def run_backfill(pipeline: Pipeline, *, since: datetime | None = None, chunk: int = 5000,
                 progress: Callable[[SourceRead], None] | None = None) -> BackfillSummary:
    """Read every source of `pipeline` to its end, then classify, route, queue and deliver what it read."""
    started = pipeline.clock()
    summary = BackfillSummary()
    for name in sorted(pipeline.sources):
        summary.sources.append(_read_to_end(pipeline, name, since, progress))
    while done := pipeline.classify(limit=chunk):
        summary.classified += done
    while done := pipeline.route():
        summary.routed += done
    for _ in range(1000):  # what is due now; anything Slack refuses stays for `run` to retry
        sent = pipeline.deliver()
        summary.messages_sent += sent
        if not sent:
            break
    with pipeline.db.session() as session:
        statuses = dict(session.execute(
            select(QueueItemRow.status, func.count()).where(QueueItemRow.created_at >= started)
            .group_by(QueueItemRow.status)).all())
        kinds = dict(session.execute(
            select(OutboxRow.kind, func.count()).where(OutboxRow.created_at >= started).group_by(OutboxRow.kind)).all())
        summary.messages_left = int(session.scalar(
            select(func.count()).select_from(OutboxRow)
            .where(OutboxRow.created_at >= started, OutboxRow.status.in_(("pending", "sending")))) or 0)
    summary.queued_history = int(statuses.pop("not_relevant", 0))
    summary.queued_open = int(sum(statuses.values()))
    summary.messages_queued = {str(kind): int(count) for kind, count in kinds.items()}
    return summary


__all__ = ["BackfillSummary", "SinceFilter", "SourceRead", "run_backfill"]
