"""The posts a team handled without correcting them: the model's reading of them stood (README, "Learning from
corrections").

A correction says where the model was wrong; on its own it is a sample of mistakes only. Heads fitted on mistakes
alone and checked on held-out mistakes look better than the model they replace (which is wrong on every one of them
by construction) while reading everything else worse: in the demo stream's drill (`python -m
monitor.evaluate.learning`) they were kept and took the later posts' sentiment macro-recall from 0.580 to 0.388. So
`brandmon train --corrections` also learns from, and checks on, the posts a person replied to or resolved without
reclassifying them: their stored sentiment and complaint are what the team let stand.
"""

from __future__ import annotations

from sqlalchemy import func, select

from core.storage import Database
from core.storage.queue_tables import LabelledExampleRow
from core.storage.schema import ClassificationRow, MentionRow
from models.corrections import Correction
from monitor.queue.relevance_clicks import NOT_RELEVANT_ACTION, latest_person_actions

#: What a person does to a post whose reading they accept: answer it or close it as done.
CONFIRMING_ACTIONS = frozenset({"marked_replied", "resolved", "reply_posted", "reply_settled"})
#: What says the reading was not accepted after all, whatever came before.
UNDOING_ACTIONS = frozenset({NOT_RELEVANT_ACTION, "reopened", "reclassified"})


def load_confirmations(db: Database, brand: str) -> list[Correction]:
    """Return `brand`'s posts a person answered or resolved with the model's reading unchanged, as corrections.

    The latest person's action on a post decides: it confirms when it is an answer or a resolution, and a post
    marked not relevant, reopened or reclassified since is none. Posts with a stored correction are left out (the
    correction speaks for them), and so are posts scored by no model (nothing to confirm). Each carries the stored
    sentiment and complaint; its id is the mention id made negative, so it never meets a correction's id.
    """
    with db.session() as session:
        latest = latest_person_actions(session, CONFIRMING_ACTIONS | UNDOING_ACTIONS)
        confirmed = sorted(m for m, action in latest.items() if action in CONFIRMING_ACTIONS)
        if not confirmed:
            return []
        corrected = set(session.execute(
            select(LabelledExampleRow.mention_id).where(LabelledExampleRow.mention_id.in_(confirmed))).scalars())
        posts = session.execute(
            select(MentionRow.id, MentionRow.text, ClassificationRow.sentiment, ClassificationRow.complaint,
                   func.coalesce(ClassificationRow.language, MentionRow.language))
            .join(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
            .where(MentionRow.brand == brand, MentionRow.id.in_(confirmed), ClassificationRow.needs_human.is_(False))
            .order_by(MentionRow.id)).all()
    return [Correction(id=-row_id, text=text, sentiment=sentiment, complaint=bool(complaint), language=language)
            for row_id, text, sentiment, complaint, language in posts
            if row_id not in corrected and text and text.strip()]


__all__ = ["CONFIRMING_ACTIONS", "UNDOING_ACTIONS", "load_confirmations"]
