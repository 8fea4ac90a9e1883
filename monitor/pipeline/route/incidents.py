"""Incidents, not floods: near-duplicate posts about a brand join one incident per routing rule.

A post joins an open incident of the same brand and rule when it shares an exact key with it (a retweet or
quote of the same post, the same link, the same opening words or text, an urgency category that is one story
such as an outage) or when its wording overlaps a member's (word-bigram Jaccard). The incident is posted once;
the router keeps the message current with chat.update and puts later posts in its thread.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.settings import SlackSettings
from core.storage.incident_tables import IncidentMemberRow, IncidentRow
from core.storage.schema import ClassificationRow, MentionRow, QueueItemRow

#: Keys an incident keeps at most (a long outage collects many links); the oldest go first.
MAX_KEYS = 400
#: Members whose wording a new post is compared with, newest first.
COMPARE_MEMBERS = 60
LEAD_WORDS = 8
MIN_SHINGLES = 3
REASONS = {
    "ref": "retweet or quote",
    "reply": "reply in the conversation",
    "link": "same link",
    "text": "same text",
    "lead": "same opening words",
    "cat": "same category",
}

_RETWEET = re.compile(r"^\s*RT\s+@\w+:\s*", re.IGNORECASE)
_URL = re.compile(r"https?://[^\s<>\"']+|www\.[^\s<>\"']+", re.IGNORECASE)
_STATUS = re.compile(r"(?:x|twitter)\.com/\w+/status(?:es)?/(\d+)", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@\w+")
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Signature:
    """What identifies a post's story: exact keys, wording shingles, and whether it only repeats another post."""

    keys: frozenset[str]
    shingles: frozenset[int]
    repost: bool = False
    #: Keys of the posts this one answers: it joins an incident its parent is in ("ref:x:123").
    follows: frozenset[str] = frozenset()


def normalise_link(url: str) -> str | None:
    """Reduce a URL to host and path (no scheme, www, query, fragment or trailing slash); None if unusable."""
    if "…" in url:
        return None  # cut short by a retweet: the full link is unknown
    text = url.rstrip(".,;:!?)]}'\"")
    text = re.sub(r"^https?://", "", text, flags=re.IGNORECASE)
    text = re.sub(r"^www\.", "", text, flags=re.IGNORECASE)
    text = text.split("#", 1)[0].split("?", 1)[0].rstrip("/")
    host, _, path = text.partition("/")
    if "." not in host or len(host) < 4:
        return None
    return f"{host.lower()}/{path}" if path else host.lower()


def words(text: str) -> list[str]:
    """Return the normalised words of a post: no retweet prefix, links, @handles or trailing ellipsis."""
    body = _RETWEET.sub("", text)
    body = _URL.sub(" ", body)
    body = _MENTION.sub(" ", body).replace("…", " ")
    return [w.lower() for w in _WORD.findall(body)]


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def signature(
    *,
    text: str,
    network: str,
    external_id: str,
    raw: Mapping[str, Any],
    category: str,
    group_categories: Iterable[str],
    parent_id: str | None = None,
) -> Signature:
    """Compute a post's incident signature."""
    keys = {f"ref:{network}:{external_id}"}
    # a reply only joins its parent's incident; two replies to one post are not one story (a megathread)
    follows = frozenset({f"ref:{network}:{parent_id}"}) if parent_id and parent_id != external_id else frozenset()
    repost = bool(_RETWEET.match(text))
    for ref in raw.get("referenced_tweets") or []:
        if isinstance(ref, Mapping) and ref.get("id") and ref.get("type") in ("retweeted", "quoted"):
            keys.add(f"ref:{network}:{ref['id']}")
            repost = repost or ref.get("type") == "retweeted"
    for url in _URL.findall(text):
        status = _STATUS.search(url)
        if status:
            keys.add(f"ref:x:{status.group(1)}")
            continue
        norm = normalise_link(url)
        if norm:
            keys.add(f"link:{norm}")
    tokens = words(text)
    if len(tokens) >= 2:
        keys.add(f"text:{_digest(' '.join(tokens))}")
    if len(tokens) >= LEAD_WORDS:
        keys.add(f"lead:{_digest(' '.join(tokens[:LEAD_WORDS]))}")
    if category in set(group_categories):
        keys.add(f"cat:{category}")
    shingles = frozenset(zlib.crc32(f"{a} {b}".encode()) for a, b in itertools.pairwise(tokens))
    return Signature(frozenset(keys), shingles, repost, follows)


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    """Return |a ∩ b| / |a ∪ b| (0 for two empty sets)."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


@dataclass
class _Candidate:
    row: IncidentRow
    keys: set[str]
    shingles: list[frozenset[int]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Match:
    """An incident a post joins, and why."""

    incident: IncidentRow
    reason: str


class IncidentIndex:
    """The open cluster incidents of each brand seen in one routing batch, kept in memory as posts join."""

    def __init__(self, session: Session, slack: SlackSettings) -> None:
        self.session = session
        self.window = timedelta(minutes=slack.incident_window_min)
        self.category_gap = timedelta(minutes=slack.incident_category_gap_min)
        self.similarity = slack.incident_similarity
        self._loaded: dict[str, list[_Candidate]] = {}

    def _candidates(self, brand: str, post_at: datetime) -> list[_Candidate]:
        if brand not in self._loaded:
            rows = (
                self.session.execute(
                    select(IncidentRow)
                    .where(
                        IncidentRow.brand == brand,
                        IncidentRow.kind == "cluster",
                        IncidentRow.status.in_(("open", "dismissed")),
                        IncidentRow.last_post_at >= post_at - self.window,
                    )
                    .order_by(IncidentRow.last_post_at.desc())
                    .limit(200)
                )
                .scalars()
                .all()
            )
            loaded = []
            for row in rows:
                members = (
                    self.session.execute(
                        select(IncidentMemberRow.shingles)
                        .where(IncidentMemberRow.incident_id == row.id)
                        .order_by(IncidentMemberRow.post_at.desc())
                        .limit(COMPARE_MEMBERS)
                    )
                    .scalars()
                    .all()
                )
                loaded.append(_Candidate(row, set(row.keys or ()), [frozenset(s) for s in reversed(members)]))
            self._loaded[brand] = loaded
        return self._loaded[brand]

    def _score(self, candidate: _Candidate, sig: Signature, post_at: datetime) -> tuple[int, str] | None:
        row = candidate.row
        if not (row.first_post_at - self.window <= post_at <= row.last_post_at + self.window):
            return None
        shared = sig.keys & candidate.keys
        for rank, prefix in enumerate(("ref", "text", "link", "lead")):
            if any(k.startswith(prefix + ":") for k in shared):
                return 5 - rank, REASONS[prefix]
        if sig.follows & candidate.keys:
            return 1, REASONS["reply"]
        if len(sig.shingles) >= MIN_SHINGLES:
            overlap = max((jaccard(sig.shingles, s) for s in candidate.shingles[-COMPARE_MEMBERS:]), default=0.0)
            if overlap >= self.similarity:
                return 0, "similar wording"
        near = row.last_post_at - self.category_gap <= post_at <= row.last_post_at + self.category_gap
        if near and any(k.startswith("cat:") for k in shared):
            return -1, REASONS["cat"]
        return None

    def find(self, brand: str, sig: Signature, post_at: datetime) -> list[Match]:
        """Return the open incidents this post belongs to: the best one per channel, strongest reason first."""
        best: dict[str, tuple[int, float, _Candidate, str]] = {}
        for candidate in self._candidates(brand, post_at):
            scored = self._score(candidate, sig, post_at)
            if scored is None:
                continue
            entry = (scored[0], candidate.row.last_post_at.timestamp(), candidate, scored[1])
            channel = candidate.row.channel
            if channel not in best or entry[:2] > best[channel][:2]:
                best[channel] = entry
        ordered = sorted(best.values(), key=lambda e: e[:2], reverse=True)
        return [Match(entry[2].row, entry[3]) for entry in ordered]

    def add(self, incident: IncidentRow, sig: Signature) -> None:
        """Remember a new member's keys and wording for the rest of the batch."""
        candidates = self._loaded.setdefault(incident.brand, [])
        for candidate in candidates:
            if candidate.row is incident:
                break
        else:
            candidate = _Candidate(incident, set())
            candidates.append(candidate)
        candidate.keys |= sig.keys
        candidate.shingles.append(sig.shingles)
        incident.keys = _merge_keys(incident.keys or [], sig.keys)


def _merge_keys(existing: list[str], new: Iterable[str]) -> list[str]:
    merged = list(existing) + sorted(k for k in new if k not in set(existing))
    return merged[-MAX_KEYS:]


def new_incident(
    session: Session,
    *,
    brand: str,
    rule: str,
    channel: str,
    category: str,
    post_at: datetime,
    now: datetime,
    lead_mention_id: int | None,
) -> IncidentRow:
    """Create an open cluster incident that starts with one post."""
    row = IncidentRow(
        kind="cluster",
        brand=brand,
        rule=rule,
        channel=channel,
        status="open",
        category=category,
        keys=[],
        lead_mention_id=lead_mention_id,
        member_count=0,
        thread_replies=0,
        max_urgency=0.0,
        first_post_at=post_at,
        last_post_at=post_at,
        created_at=now,
        updated_at=now,
        acted=[],
        detail={},
    )
    session.add(row)
    session.flush()
    return row


def add_member(
    session: Session,
    incident: IncidentRow,
    *,
    mention_id: int,
    post_at: datetime,
    urgency: float,
    sig: Signature,
    reason: str,
    now: datetime,
) -> IncidentMemberRow:
    """Record a post as a member and fold it into the incident's counters."""
    member = IncidentMemberRow(
        incident_id=incident.id,
        mention_id=mention_id,
        joined_at=now,
        post_at=post_at,
        reason=reason,
        keys=sorted(sig.keys),
        shingles=sorted(sig.shingles),
    )
    session.add(member)
    incident.member_count = (incident.member_count or 0) + 1
    incident.first_post_at = min(incident.first_post_at, post_at)
    incident.last_post_at = max(incident.last_post_at, post_at)
    incident.max_urgency = max(incident.max_urgency or 0.0, urgency)
    incident.updated_at = now
    return member


def incident_payload(session: Session, incident: IncidentRow, slack: SlackSettings) -> dict[str, Any]:
    """Build the incident message's content from its members: counts, reach, sentiment mix, newest posts."""
    base = (
        select(MentionRow, ClassificationRow, IncidentMemberRow.reason)
        .join(IncidentMemberRow, IncidentMemberRow.mention_id == MentionRow.id)
        .join(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
        .where(IncidentMemberRow.incident_id == incident.id)
    )
    sentiments = dict(
        session.execute(
            select(ClassificationRow.sentiment, func.count())
            .join(IncidentMemberRow, IncidentMemberRow.mention_id == ClassificationRow.mention_id)
            .where(IncidentMemberRow.incident_id == incident.id)
            .group_by(ClassificationRow.sentiment)
        ).all()
    )
    networks = dict(
        session.execute(
            select(MentionRow.network, func.count())
            .join(IncidentMemberRow, IncidentMemberRow.mention_id == MentionRow.id)
            .where(IncidentMemberRow.incident_id == incident.id)
            .group_by(MentionRow.network)
        ).all()
    )
    reasons = dict(
        session.execute(
            select(IncidentMemberRow.reason, func.count())
            .where(IncidentMemberRow.incident_id == incident.id)
            .group_by(IncidentMemberRow.reason)
        ).all()
    )
    authors = session.execute(
        select(MentionRow.network, MentionRow.author_handle, func.max(MentionRow.author_followers))
        .join(IncidentMemberRow, IncidentMemberRow.mention_id == MentionRow.id)
        .where(IncidentMemberRow.incident_id == incident.id)
        .group_by(MentionRow.network, MentionRow.author_handle)
    ).all()
    top = session.execute(base.order_by(ClassificationRow.urgency_score.desc(), MentionRow.id).limit(1)).first()
    newest = session.execute(
        base.order_by(IncidentMemberRow.post_at.desc(), MentionRow.id.desc()).limit(slack.incident_examples)
    ).all()
    items = session.execute(
        select(QueueItemRow.id, QueueItemRow.first_response_due, QueueItemRow.status)
        .join(IncidentMemberRow, IncidentMemberRow.mention_id == QueueItemRow.mention_id)
        .where(IncidentMemberRow.incident_id == incident.id)
        .order_by(QueueItemRow.first_response_due)
    ).all()
    open_items = [(item_id, due) for item_id, due, status in items if status in ("new", "claimed", "snoozed")]
    lead_item = next((item_id for item_id, _, _ in items), None)
    top_scores = top[1] if top else None
    reason_counts = Counter({str(r): int(n) for r, n in reasons.items() if r != "first post"})
    return {
        "type": "incident",
        "incident_id": incident.id,
        "rule": incident.rule,
        "brand": incident.brand,
        "status": incident.status,
        "count": incident.member_count,
        "reach": sum(int(f or 0) for _, _, f in authors),
        "authors": len(authors),
        "sentiments": {str(k): int(v) for k, v in sentiments.items()},
        "networks": {str(k): int(v) for k, v in networks.items()},
        "reasons": dict(reason_counts),
        "urgency_score": top_scores.urgency_score if top_scores else incident.max_urgency,
        "urgency_level": top_scores.urgency_level if top_scores else "low",
        "urgency_category": incident.category,
        "first_post_at": incident.first_post_at.isoformat(),
        "last_post_at": incident.last_post_at.isoformat(),
        "first_response_due": open_items[0][1].isoformat() if open_items else None,
        "queue_item_id": lead_item,
        "mention_id": incident.lead_mention_id,
        "open_items": len(open_items),
        "queue_url": slack.queue_url,
        "acted": list(incident.acted or []),
        "examples": [
            {
                "author_handle": m.author_handle,
                "author_followers": m.author_followers,
                "text": m.text,
                "url": m.url,
                "sentiment": c.sentiment,
                "created_at": m.created_at.isoformat(),
            }
            for m, c, _ in newest
        ],
    }
