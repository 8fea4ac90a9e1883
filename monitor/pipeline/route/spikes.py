"""Spike detection per brand: mention volume and negative share against an hour-of-week baseline.

The baseline of a window is the same window (same weekday and time) in each of the past `baseline_weeks`
weeks that brandmon was already watching; with less history it falls back to the brand's average rate so
far. A sudden burst (the last `window_min` far above normal), a slow climb (each of the last `climb_hours`
hours at least the one before, together far above normal) and a jump in negative share each raise a spike
incident. It is posted once with its explanation (top terms, example posts, sentiment mix, how far above
normal) and kept current with chat.update while it lasts.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core.outbox import enqueue, rearm
from core.settings import Settings, SpikeSettings
from core.storage import Database
from core.storage.incident_tables import IncidentRow
from core.storage.schema import ClassificationRow, MentionRow, OutboxRow
from monitor.pipeline.route.rules import quiet_decision

log = logging.getLogger(__name__)

WEEK = timedelta(days=7)
RULE = "spike"
_WORD = re.compile(r"[#@]?\w[\w'-]{2,}", re.UNICODE)
# fmt: off
STOPWORDS = frozenset((
    "the", "and", "for", "you", "your", "with", "this", "that", "have", "has", "had", "are", "was", "were", "but",
    "not", "just", "they", "them", "their", "from", "what", "when", "where", "who", "why", "how", "all", "any",
    "can", "cant", "can't", "could", "would", "should", "will", "its", "it's", "i'm", "im", "dont", "don't",
    "been", "being", "about", "into", "out", "over", "than", "then", "there", "here", "our", "ours", "get", "got",
    "one", "two", "more", "some", "like", "really", "very", "too", "now", "today", "still", "also", "only", "even",
    "much", "many", "my", "me", "we", "us", "he", "she", "his", "her", "him", "via", "amp", "https", "http", "www",
    "com",
))
# fmt: on


@dataclass
class SpikeFinding:
    """A brand's volume or negative share far above normal, with what explains it."""

    brand: str
    kinds: list[str]
    window_start: datetime
    window_end: datetime
    count: int
    expected: float
    negative_share: float
    baseline_negative_share: float
    baseline: str
    sentiments: dict[str, int] = field(default_factory=dict)
    hourly: list[int] = field(default_factory=list)
    top_terms: list[str] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)
    max_urgency: float = 0.0

    @property
    def factor(self) -> float:
        """Return how many times the normal volume this window holds."""
        return self.count / max(self.expected, 0.5)


def _counts(session: Session, brand: str, start: datetime, end: datetime) -> tuple[int, int]:
    total, negative = session.execute(
        select(
            func.count(MentionRow.id),
            func.coalesce(func.sum(case((ClassificationRow.sentiment == "negative", 1), else_=0)), 0),
        )
        .join(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
        .where(MentionRow.brand == brand, MentionRow.created_at >= start, MentionRow.created_at < end)
    ).one()
    return int(total or 0), int(negative or 0)


def baseline(
    session: Session, brand: str, start: datetime, end: datetime, weeks: int
) -> tuple[float, float, str] | None:
    """Return (expected posts, negative share, where it came from) for a window, or None without history."""
    first_seen = session.execute(select(func.min(MentionRow.created_at)).where(MentionRow.brand == brand)).scalar()
    if first_seen is None:
        return None
    counts = []
    for k in range(1, weeks + 1):
        if first_seen > start - k * WEEK:
            break
        counts.append(_counts(session, brand, start - k * WEEK, end - k * WEEK))
    if counts:
        total = sum(c for c, _ in counts)
        share = sum(n for _, n in counts) / total if total else 0.0
        return total / len(counts), share, f"same time of week, last {len(counts)} week{'s' * (len(counts) > 1)}"
    since = max(first_seen, start - WEEK)
    span = (start - since).total_seconds()
    if span < 2 * (end - start).total_seconds():
        return None  # too little history to say what normal is
    total, negative = _counts(session, brand, since, start)
    expected = total * (end - start).total_seconds() / span
    return expected, (negative / total if total else 0.0), f"average rate over the previous {span / 3600:.0f}h"


def top_terms(texts: list[str], background: list[str], *, exclude: set[str], limit: int = 6) -> list[str]:
    """Return the words most over-represented in `texts` against `background`, at least three uses each."""

    def tally(items: list[str]) -> Counter[str]:
        found: Counter[str] = Counter()
        for text in items:
            found.update({w.lower() for w in _WORD.findall(text)})
        return found

    now, before = tally(texts), tally(background)
    total_now, total_before = max(sum(now.values()), 1), max(sum(before.values()), 1)
    scored = []
    for word, n in now.items():
        bare = word.lstrip("#@")
        if n < 3 or bare in STOPWORDS or bare in exclude or word.startswith("@") or bare.isdigit():
            continue
        lift = (n / total_now) / ((before.get(word, 0) + 1) / total_before)
        scored.append((lift * n, word))
    return [word for _, word in sorted(scored, reverse=True)[:limit]]


def detect(
    session: Session, spikes: SpikeSettings, brand: str, *, now: datetime, exclude: set[str]
) -> SpikeFinding | None:
    """Return a spike finding for `brand` at `now`, or None when volume and negative share look normal."""
    window = timedelta(minutes=spikes.window_min)
    start = now - window
    normal = baseline(session, brand, start, now, spikes.baseline_weeks)
    if normal is None:
        return None
    expected, base_share, source = normal
    count, negative = _counts(session, brand, start, now)
    share = negative / count if count else 0.0
    kinds = []
    if count >= spikes.min_posts and count >= spikes.burst_factor * max(expected, 0.5):
        kinds.append("burst")
    hour = timedelta(hours=1)
    hourly, expected_hours = [], 0.0
    for i in range(spikes.climb_hours, 0, -1):
        h_start = now - i * hour
        hourly.append(_counts(session, brand, h_start, h_start + hour)[0])
        found = baseline(session, brand, h_start, h_start + hour, spikes.baseline_weeks)
        expected_hours += found[0] if found else 0.0
    rising = all(b >= a for a, b in itertools.pairwise(hourly)) and hourly[-1] > hourly[0]
    if (
        rising
        and sum(hourly) >= spikes.min_posts
        and sum(hourly) >= spikes.climb_factor * max(expected_hours, 0.5)
        and "burst" not in kinds
    ):
        kinds.append("climb")
    if count >= spikes.min_posts and share >= base_share + spikes.negative_share_delta:
        kinds.append("negative")
    if not kinds:
        return None
    if kinds == ["climb"]:
        start, count, expected = now - spikes.climb_hours * hour, sum(hourly), expected_hours
    rows = session.execute(
        select(MentionRow, ClassificationRow)
        .join(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
        .where(MentionRow.brand == brand, MentionRow.created_at >= start, MentionRow.created_at < now)
    ).all()
    background = (
        session.execute(
            select(MentionRow.text)
            .where(MentionRow.brand == brand, MentionRow.created_at >= start - WEEK, MentionRow.created_at < start)
            .limit(5000)
        )
        .scalars()
        .all()
    )
    sentiments = Counter(c.sentiment for _, c in rows)
    ranked = sorted(rows, key=lambda r: (r[1].sentiment != "negative", -(r[0].author_followers or 0)))
    return SpikeFinding(
        brand=brand,
        kinds=kinds,
        window_start=start,
        window_end=now,
        count=count,
        expected=expected,
        negative_share=share,
        baseline_negative_share=base_share,
        baseline=source,
        sentiments=dict(sentiments),
        hourly=hourly,
        top_terms=top_terms([m.text for m, _ in rows], list(background), exclude=exclude),
        examples=[
            {
                "author_handle": m.author_handle,
                "author_followers": m.author_followers,
                "text": m.text,
                "url": m.url,
                "sentiment": c.sentiment,
            }
            for m, c in ranked[:3]
        ],
        max_urgency=max((c.urgency_score for _, c in rows), default=0.0),
    )


def _brand_words(settings: Settings, brand: str) -> set[str]:
    config = settings.brand(brand)
    words = {w.lower() for w in re.findall(r"\w+", config.name)}
    words |= {h.lower() for h in config.handles.values()}
    return words


def _payload(finding: SpikeFinding, incident: IncidentRow, status: str) -> dict[str, Any]:
    data = asdict(finding)
    data.update(
        type="spike",
        incident_id=incident.id,
        status=status,
        factor=round(finding.factor, 1),
        window_start=finding.window_start.isoformat(),
        window_end=finding.window_end.isoformat(),
        first_seen=incident.first_post_at.isoformat(),
    )
    return data


def check_spikes(db: Database, settings: Settings, *, now: datetime) -> int:
    """Look for spikes in every watched brand; open, update or close spike incidents; return messages queued."""
    spikes = settings.slack.spikes
    if not settings.slack.enabled or spikes.channel is None:
        return 0
    brands = spikes.brands or [b.name for b in settings.brands if b.own]
    queued = 0
    with db.session() as session:
        for brand in brands:
            finding = detect(session, spikes, brand, now=now, exclude=_brand_words(settings, brand))
            current = (
                session.execute(
                    select(IncidentRow)
                    .where(IncidentRow.kind == "spike", IncidentRow.brand == brand, IncidentRow.status == "open")
                    .order_by(IncidentRow.id.desc())
                )
                .scalars()
                .first()
            )
            if current is not None and current.root_outbox_id is not None:
                if finding is None:  # back to normal: say so on the message and close the incident
                    current.status, current.updated_at = "closed", now
                    root = session.get(OutboxRow, current.root_outbox_id)
                    if root is not None:
                        closing = {**root.payload, "status": "closed", "closed_at": now.isoformat()}
                        rearm(session, root.id, closing, now=now)
                else:
                    current.last_post_at, current.updated_at = now, now
                    current.member_count = finding.count
                    rearm(session, current.root_outbox_id, _payload(finding, current, "open"), now=now)
                queued += 1
                continue
            if finding is None:
                continue
            last = session.execute(
                select(func.max(IncidentRow.created_at)).where(IncidentRow.kind == "spike", IncidentRow.brand == brand)
            ).scalar()
            if last is not None and last > now - timedelta(seconds=spikes.cooldown_s):
                continue
            quiet = quiet_decision(settings.slack, spikes.channel, now, finding.max_urgency)
            if quiet.drop:
                log.info("spike for %s not sent: %s", brand, quiet.reason)
                continue
            incident = IncidentRow(
                kind="spike",
                brand=brand,
                rule=RULE,
                channel=spikes.channel,
                status="open",
                category="+".join(finding.kinds),
                keys=[],
                member_count=finding.count,
                thread_replies=0,
                max_urgency=finding.max_urgency,
                first_post_at=finding.window_start,
                last_post_at=now,
                created_at=now,
                updated_at=now,
                acted=[],
                detail={"kinds": finding.kinds},
            )
            session.add(incident)
            session.flush()
            incident.root_outbox_id, _ = enqueue(
                session, kind="slack", channel=spikes.channel, dedupe_key=f"slack:spike:{brand}:{incident.id}",
                payload=_payload(finding, incident, "open"), now=now, not_before=quiet.hold_until,
            )
            log.info(
                "spike for %s: %s, %d posts vs %.1f normal",
                brand,
                "+".join(finding.kinds),
                finding.count,
                finding.expected,
            )
            queued += 1
    return queued
