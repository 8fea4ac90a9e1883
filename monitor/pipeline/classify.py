"""Classify: score every stored mention that has no classification yet."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import select

from models.base import Classifier, Post
from monitor.settings import SlaSettings
from monitor.storage import Database, insert_ignore
from monitor.storage.schema import ClassificationRow, MentionRow

log = logging.getLogger(__name__)

#: brand -> predicate(text, language) that says whether a stored post really is about the brand.
QueryMatchers = Mapping[str, Callable[[str, str | None], bool]]


def classify_pending(
    db: Database,
    classifier: Classifier,
    sla: SlaSettings,
    *,
    now: datetime,
    batch_size: int = 64,
    limit: int | None = None,
    matchers: QueryMatchers | None = None,
) -> int:
    """Classify unclassified mentions in batches, oldest first; return how many were classified."""
    done = 0
    while limit is None or done < limit:
        size = batch_size if limit is None else min(batch_size, limit - done)
        with db.session() as session:
            pending = session.execute(
                select(MentionRow.id, MentionRow.text, MentionRow.language, MentionRow.brand)
                .outerjoin(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
                .where(ClassificationRow.mention_id.is_(None))
                .order_by(MentionRow.id)
                .limit(size)
            ).all()
        if not pending:
            break
        scores = classifier.classify([Post(text, language, brand) for _, text, language, brand in pending])
        rows = []
        for (mention_id, text, language, brand), score in zip(pending, scores, strict=True):
            matcher = (matchers or {}).get(brand)
            rows.append(
                {
                    "mention_id": mention_id,
                    "model": classifier.name,
                    "sentiment": score.sentiment,
                    "sentiment_probs": dict(score.sentiment_probs),
                    "complaint": score.complaint,
                    "complaint_prob": score.complaint_prob,
                    "severity": score.severity,
                    "urgency_score": score.urgency_score,
                    "urgency_category": score.urgency_category,
                    "urgency_level": sla.level_for(score.urgency_score),
                    "language": score.language,
                    "needs_human": score.needs_human,
                    "needs_human_reason": score.needs_human_reason,
                    "matched_query": True if matcher is None else bool(matcher(text, score.language or language)),
                    "explanation": {k: list(v) for k, v in score.explanation.items()},
                    "classified_at": now,
                }
            )
        with db.session() as session:
            insert_ignore(session, ClassificationRow, rows, conflict=("mention_id",))
        done += len(rows)
        if len(pending) < size:
            break
    if done:
        log.info("classified %d mentions with %s", done, classifier.name)
    return done
