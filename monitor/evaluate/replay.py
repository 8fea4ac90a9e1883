"""Replay a labelled stream through the real classify and route steps, in a temporary database, sending nothing.

The posts are read by the replay source (as `brandmon backfill` reads a file), stored by the ingest step and
scored once by the classify step in full batches (the encoder is fastest so). Routing then runs on a simulated
clock in post-time order: each poll interval's posts are released to the route step at the end of that interval,
as a live poller would have stored them, so cases, incidents, cooldowns and quiet hours see the week as it
happened. Slack is the loopback with no deliverer: every message the route step queues stays in the outbox, where
it is counted; nothing leaves the machine. The scored database is kept as a template, so the same scores can be
routed again under other route settings (`brandmon calibrate`).
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select
from tqdm import tqdm

from core.domain import Batch, Mention
from core.query import compile_matcher
from core.settings import Settings
from core.storage import Database
from core.storage.schema import AlertRow, ClassificationRow, MentionRow, OutboxRow, QueueItemRow, RoutingRow
from models.base import Classifier
from monitor.evaluate.labels import Labels, StreamRecord, read_stream
from monitor.pipeline import Pipeline, build_classifier
from monitor.pipeline.batches import summaries
from monitor.pipeline.ingest import store_batch
from sources.replay import ReplaySource

#: Seconds between the simulated polls that release posts to the route step.
DEFAULT_POLL_S = 60


@dataclass(frozen=True, slots=True)
class PostResult:
    """One replayed post: what it is (labels), what the classifier said, and what routing did with it."""

    mention_id: int
    external_id: str
    network: str
    brand: str
    own: bool
    from_brand: bool
    labels: Labels
    text: str
    followers: int | None
    verified: bool
    sentiment: str
    complaint: bool
    category: str
    level: str
    urgency_score: float
    language: str | None
    needs_human: bool
    matched_query: bool
    #: Rules that told Slack about the post (its own message, a thread reply, or a line in an incident).
    alerts: frozenset[str] = frozenset()
    #: The kind ("respond", "thank") of the queue item this post opened, as it stood at the end of the replay.
    opened: str | None = None
    #: Whether routing put the post in a customer case or an incident (the team can find it there).
    placed: bool = False


@dataclass(frozen=True, slots=True)
class RouteRun:
    """The posts of one routing run and the Slack messages it queued."""

    posts: list[PostResult]
    slack_messages: int
    messages_by_rule: dict[str, int] = field(default_factory=dict)


def read_through(source: ReplaySource) -> Iterator[Batch]:
    """Yield every batch of a replay file from its start to its end, then close the source."""
    cursor: str | None = None
    try:
        while True:
            batch = source.poll(cursor)
            yield batch
            if batch.exhausted:
                return
            cursor = batch.cursor
    finally:
        source.close()


def offline_settings(settings: Settings, database_url: str) -> Settings:
    """Return `settings` on `database_url` with Slack on the loopback, so routing queues messages and none is sent."""
    slack = settings.slack.model_copy(update={"enabled": True, "base_url": "loopback"})
    return settings.model_copy(update={"database_url": database_url, "slack": slack})


class Replay:
    """A labelled stream scored once by the classify step, ready to be routed under any route settings."""

    def __init__(self, settings: Settings, stream: Path, *, classifier: Classifier | None = None,
                 limit: int | None = None, poll_s: int = DEFAULT_POLL_S, progress: bool = True,
                 folder: Path) -> None:
        if poll_s <= 0:
            raise ValueError(f"poll interval must be positive, got {poll_s}")
        self.settings = settings
        self.stream = stream
        self.poll_s = poll_s
        self.progress = progress
        self._template = folder / "scored.db"
        self._folder = folder
        self._runs = 0
        self.records, self.skipped = read_stream(stream, brands={b.name for b in settings.brands}, limit=limit)
        self._labels = {(r.network, r.external_id): r for r in self.records}
        db = Database(f"sqlite:///{self._template}")
        try:
            db.migrate()
            self._ingest(db)
            scored = offline_settings(settings, f"sqlite:///{self._template}")
            self.classifier = classifier or build_classifier(scored)
            self._classify(db, scored)
            self._scores = self._take_scores(db)
        finally:
            db.dispose()

    @property
    def posts(self) -> int:
        """Return how many posts the replay stored and scored."""
        return len(self._scores)

    def _mentions(self) -> list[tuple[str, Mention]]:
        """Read the stream's posts through one replay source per brand, as a backfill reads a file."""
        wanted = set(self._labels)
        found: list[tuple[str, Mention]] = []
        for brand in sorted({r.brand for r in self.records}):
            source = ReplaySource(name=f"evaluate-{brand}", brand=brand,
                                  options={"path": str(self.stream), "batch_size": 5000, "brand_posts": True})
            for batch in read_through(source):
                found.extend((brand, m) for m in batch.mentions if m.key in wanted)
        return sorted(found, key=lambda item: item[1].created_at)

    def _ingest(self, db: Database) -> None:
        """Store the posts in time order through the ingest step's batch store."""
        mentions = self._mentions()
        now = mentions[0][1].created_at if mentions else datetime.now(UTC)
        run: list[Mention] = []
        for index, (brand, mention) in enumerate(mentions):
            run.append(mention)
            following = mentions[index + 1][0] if index + 1 < len(mentions) else None
            if following != brand:  # one batch per run of the same brand keeps the time order in the row ids
                source = ReplaySource(name=f"evaluate-{brand}", brand=brand, options={"path": str(self.stream)})
                store_batch(db, source, Batch(tuple(run), str(index + 1), exhausted=following is None), now=now)
                run = []

    def _classify(self, db: Database, settings: Settings) -> None:
        """Score every stored post with the real classify step, one full batch at a time."""
        with db.session() as session:
            times = session.execute(select(MentionRow.created_at).order_by(MentionRow.id)).scalars().all()
        matchers = {brand.name: compile_matcher(brand.query) for brand in settings.brands}
        clock = _Clock(max(times) if times else datetime.now(UTC))  # scored as the last post came in
        pipeline = Pipeline(settings, db, classifier=self.classifier, sources={}, notifiers={}, matchers=matchers,
                            clock=clock)
        total = len(times)
        with tqdm(total=total, desc="classifying", unit="post", disable=not self.progress, leave=False) as bar:
            while (done := pipeline.classify(limit=settings.classifier.batch_size)) > 0:
                bar.update(done)

    @staticmethod
    def _take_scores(db: Database) -> dict[int, dict[str, Any]]:
        """Lift the scores out of the template (kept here), so routing releases them poll by poll."""
        columns = [c.key for c in ClassificationRow.__table__.columns]
        with db.session() as session:
            rows = session.execute(select(ClassificationRow)).scalars().all()
            scores = {row.mention_id: {name: getattr(row, name) for name in columns} for row in rows}
            session.execute(delete(ClassificationRow))
        return scores

    @contextmanager
    def _copy(self) -> Iterator[Database]:
        """Yield a fresh copy of the scored template (stored posts, no scores, nothing routed)."""
        self._runs += 1
        path = self._folder / f"route-{self._runs}.db"
        source, target = sqlite3.connect(self._template), sqlite3.connect(path)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        db = Database(f"sqlite:///{path}")
        try:
            yield db
        finally:
            db.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    def route(self, settings: Settings | None = None, *, desc: str = "routing") -> RouteRun:
        """Route the scored posts in time order under `settings` (default: the replay's own); return the outcome."""
        settings = settings or self.settings
        with self._copy() as db:
            routed = offline_settings(settings, str(db.url))
            clock = _Clock(datetime.now(UTC))
            pipeline = Pipeline(routed, db, classifier=self.classifier, sources={}, notifiers={}, clock=clock)
            with db.session() as session:
                times = dict(session.execute(select(MentionRow.id, MentionRow.created_at)).all())
            polls: dict[int, list[int]] = defaultdict(list)
            for mention_id, created_at in times.items():
                polls[_poll_end(created_at, self.poll_s)].append(mention_id)
            with tqdm(total=len(times), desc=desc, unit="post", disable=not self.progress, leave=False) as bar:
                for end in sorted(polls):
                    with db.session() as session:
                        session.execute(insert(ClassificationRow),
                                        [self._scores[i] for i in polls[end] if i in self._scores])
                    clock.now = datetime.fromtimestamp(end, UTC)
                    pipeline.route()
                    bar.update(len(polls[end]))
            return self._collect(db, settings)

    def _collect(self, db: Database, settings: Settings) -> RouteRun:
        own = {b.name for b in settings.brands if b.own}
        with db.session() as session:
            alerts: dict[int, set[str]] = defaultdict(set)
            for mention_id, rule in session.execute(select(AlertRow.mention_id, AlertRow.rule)):
                alerts[mention_id].add(rule)
            opened = dict(session.execute(select(QueueItemRow.mention_id, QueueItemRow.kind)).all())
            decisions: dict[int, dict[str, Any] | None] = dict(
                session.execute(select(RoutingRow.mention_id, RoutingRow.matched_rules)).all())
            routed = set(decisions)
            messages: dict[str, int] = defaultdict(int)
            lines: dict[str, list[tuple[str, str, datetime]]] = defaultdict(list)
            for payload, status, channel, due in session.execute(
                    select(OutboxRow.payload, OutboxRow.status, OutboxRow.channel, OutboxRow.next_attempt_at)
                    .where(OutboxRow.kind == "slack")):
                rule = str((payload or {}).get("rule") or "")
                if status == "batched":  # a batched route's lines: one message per channel and window
                    lines[rule].append((rule, channel, due))
                else:
                    messages[rule] += 1
            for rule, rows in lines.items():
                messages[rule] += summaries(rows)
            slack = sum(messages.values())
            mentions = session.execute(select(MentionRow)).scalars().all()
            posts = []
            for mention in mentions:
                scores = self._scores.get(mention.id)
                record = self._labels.get((mention.network, mention.external_id))
                if scores is None or record is None or mention.id not in routed:
                    continue
                decision = decisions[mention.id] or {}
                posts.append(_result(mention, scores, record, own=mention.brand in own,
                                     alerts=frozenset(alerts.get(mention.id, ())), opened=opened.get(mention.id),
                                     placed=decision.get("case") is not None or bool(decision.get("incidents"))))
        return RouteRun(posts, slack, dict(messages))


def _result(mention: MentionRow, scores: dict[str, Any], record: StreamRecord, *, own: bool,
            alerts: frozenset[str], opened: str | None, placed: bool) -> PostResult:
    return PostResult(
        mention_id=mention.id, external_id=mention.external_id, network=mention.network, brand=mention.brand,
        own=own, from_brand=record.from_brand, labels=record.labels, text=mention.text,
        followers=mention.author_followers, verified=mention.author_verified, sentiment=scores["sentiment"],
        complaint=bool(scores["complaint"]), category=scores["urgency_category"], level=scores["urgency_level"],
        urgency_score=float(scores["urgency_score"]), language=scores["language"],
        needs_human=bool(scores["needs_human"]), matched_query=bool(scores["matched_query"]), alerts=alerts,
        opened=opened, placed=placed,
    )


def _poll_end(created_at: datetime, poll_s: int) -> int:
    """Return the end of the poll interval (epoch seconds) in which a post made at `created_at` is read."""
    moment = created_at if created_at.tzinfo is not None else created_at.replace(tzinfo=UTC)
    seconds = int(moment.timestamp())
    return -(-seconds // poll_s) * poll_s


class _Clock:
    """The simulated clock the replay's pipeline reads."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def replay_folder(folder: Path | None = None) -> Iterator[Path]:
    """Yield a folder for the replay's databases: `folder`, or a temporary one removed afterwards."""
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        yield folder
        return
    with tempfile.TemporaryDirectory(prefix="brandmon-evaluate-") as name:
        yield Path(name)
