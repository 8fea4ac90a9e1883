"""Classify: score every stored mention that has no classification yet."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from core.settings import SlaSettings
from core.storage import Database, insert_ignore
from core.storage.schema import ClassificationRow, MentionRow
from models.base import Classifier, Post, Scores
from models.scoring import asks_nothing
from monitor.pipeline.claim import Statement, claim_batches
from monitor.pipeline.route.rules import NEEDS_REPLY_KEY, advertises, relays

log = logging.getLogger(__name__)

#: brand -> predicate(text, language) that says whether a stored post really is about the brand.
QueryMatchers = Mapping[str, Callable[[str, str | None], bool]]
#: Brand -> whether a post at (network, url) is in one of the brand's own communities (`BrandSettings.in_community`).
Communities = Mapping[str, Callable[[str, str], bool]]


def classify_pending(
    db: Database,
    classifier: Classifier,
    sla: SlaSettings,
    *,
    now: datetime,
    batch_size: int = 64,
    limit: int | None = None,
    matchers: QueryMatchers | None = None,
    skip_locked: bool = False,
    communities: Communities | None = None,
) -> int:
    """Classify unclassified mentions in batches, oldest first; return how many were classified.

    With `skip_locked` on PostgreSQL each batch stays locked (`FOR UPDATE SKIP LOCKED`) until its scores are
    stored, so several workers classify different mentions at the same time.
    """
    done = 0

    def undone(after_id: int) -> Statement:
        return (
            select(MentionRow.id, MentionRow.text, MentionRow.language, MentionRow.brand, MentionRow.network,
                   MentionRow.conversation_id, MentionRow.parent_id, MentionRow.url, MentionRow.addressed)
            .outerjoin(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
            .where(ClassificationRow.mention_id.is_(None), MentionRow.id > after_id)
            .order_by(MentionRow.id)
        )

    for claim, pending in claim_batches(db, undone, batch_size=batch_size, limit=limit, skip_locked=skip_locked):
        done += _store_scores(claim, classifier, sla, pending, now=now, matchers=matchers, communities=communities)
    if done:
        log.info("classified %d mentions with %s", done, classifier.name)
    return done


def _store_scores(session: Any, classifier: Classifier, sla: SlaSettings, pending: Sequence[Any], *,
                  now: datetime, matchers: QueryMatchers | None, communities: Communities | None = None) -> int:
    """Score one batch and insert its rows in `session`; return how many were new."""
    scores = classifier.classify([Post(row.text, row.language, row.brand) for row in pending])
    rows = []
    matched_threads: set[tuple[str, str]] = set()
    for row, score in zip(pending, scores, strict=True):
        mention_id, text, language, brand = row.id, row.text, row.language, row.brand
        matcher = (matchers or {}).get(brand)
        # a post that @-mentions, quotes or answers the brand is about it, whatever its words
        matched = matcher is None or row.addressed or bool(matcher(text, score.language or language))
        in_community = (communities or {}).get(brand)
        if not matched and in_community is not None and in_community(row.network, row.url or ""):
            matched = True  # posted in the brand's own community (its subreddit): about the brand, named or not
        if not matched and (row.conversation_id or row.parent_id):
            # "Same here, no signal since 8" names no brand but answers a thread that does
            matched = _thread_matched(session, row, matched_threads)
        if matched and row.conversation_id:
            matched_threads.add((row.network, row.conversation_id))
        urgency = decided_urgency(score, text, sla)
        rows.append(
            {
                "mention_id": mention_id,
                "model": classifier.name,
                "sentiment": score.sentiment,
                "sentiment_probs": dict(score.sentiment_probs),
                "complaint": score.complaint,
                "complaint_prob": score.complaint_prob,
                "severity": score.severity,
                "urgency_score": urgency,
                "urgency_category": score.urgency_category,
                # a brand's own category keeps its name here ("other" above); the words behind it are
                # `explanation["urgency"]` (`Scores.category_words`)
                "category": score.category,
                "category_prob": score.category_prob,
                "urgency_level": sla.level_for(urgency),
                "language": score.language,
                "needs_human": score.needs_human,
                "needs_human_reason": score.needs_human_reason,
                "matched_query": matched,
                "explanation": {k: list(v) for k, v in score.explanation.items()}
                | ({NEEDS_REPLY_KEY: [score.needs_reply]} if score.needs_reply else {}),
                "classified_at": now,
            }
        )
    # count only new rows: a batch can race a concurrent worker's commit, and the loser's rows are ignored
    return len(insert_ignore(session, ClassificationRow, rows, conflict=("mention_id",), returning=("mention_id",)))


def decided_urgency(score: Scores, text: str, sla: SlaSettings) -> float:
    """Return the urgency score to store for a classifier's `score` of `text` (see `capped_urgency`)."""
    return capped_urgency(score.urgency_score, text=text, sentiment=score.sentiment, complaint=score.complaint,
                          language=score.language, needs_reply=score.needs_reply, sla=sla)


def capped_urgency(urgency: float, *, text: str, sentiment: str, complaint: bool, language: str | None,
                   needs_reply: str | None, sla: SlaSettings) -> float:
    """Return `urgency`, or just under the "high" level for praise and for posts that need no answer.

    A post that is no complaint and asks nothing (praise, thanks, news, spam) can carry urgency words ("down",
    "fire sale") or strong feelings, but nobody has to act on it, so it never reaches a high or critical level;
    nor does a post that relays news (a retweet, a shared status page), however alarming the news, or an ad.
    Nor does a complaint the model reads as positive overall (a refund that landed, a fault an engineer fixed, with
    thanks): it is answered in its turn, not paged. On the complaints set's val and test splits the model read 6 of
    690 posts so, none of severity 3 or 4.
    Routing decides with the classifier's scores, a correction (`monitor.queue.reclassify`) with the stored ones.
    """
    praise = asks_nothing(sentiment=sentiment, complaint=complaint, text=text)
    relayed = relays(text, language) or advertises(text)
    settled = complaint and sentiment == "positive"
    if not praise and not relayed and not settled and (needs_reply in (None, "respond") or complaint):
        return urgency
    high = sla.level_thresholds.get("high", 1.1)
    normal = sla.level_thresholds.get("normal", 0.0)
    # just under "high" keeps the score's order among the posts below it
    return round(min(urgency, max(normal, high - 0.01)), 4)


def _thread_matched(session: Any, row: Any, matched_threads: set[tuple[str, str]]) -> bool:
    """Return True when the thread a reply belongs to already has a post that matched the brand query."""
    if row.conversation_id and (row.network, row.conversation_id) in matched_threads:
        return True
    related = [value for value in (row.conversation_id, row.parent_id) if value]
    thread = select(MentionRow.id).where(
        MentionRow.network == row.network,
        or_(MentionRow.external_id.in_(related), MentionRow.conversation_id == row.conversation_id)
        if row.conversation_id else MentionRow.external_id.in_(related),
    )
    found = session.execute(
        select(ClassificationRow.mention_id)
        .where(ClassificationRow.mention_id.in_(thread), ClassificationRow.matched_query.is_(True))
        .limit(1)
    ).first()
    return found is not None
