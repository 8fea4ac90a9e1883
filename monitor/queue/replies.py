"""Public replies: drafting from saved replies, per-network checks, queueing through the outbox, posting.

A reply is written by a responder who holds the item's claim and has seen its thread as it stands now; it is
stored as a `replies` row plus an outbox row of kind "reply". `ReplyNotifier` delivers that row by calling the
post's source's `reply(mention, text, idempotency_key=...)` and stores the posted reply's id and URL; a reply whose
outcome was lost (a crash or a timeout after the network took it) is looked up with `find_reply` and settled, not
posted twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import select, update

from alerts.base import DeliveryError, Notifier
from core.domain import Delivery, Mention, PostedReply, ReplyPath
from core.outbox import enqueue
from core.settings import SavedReplySettings
from core.storage import Database
from core.storage.queue_tables import SavedReplyRow
from core.storage.schema import MentionRow, OutboxRow, QueueItemRow, ReplyRow, utcnow
from monitor.queue.cases_store import case_of_item, latest_customer_post
from monitor.queue.cases_sync import record_brand_reply
from monitor.queue.context import ThreadState, mark_seen, seen_state, thread_state
from monitor.queue.items import QueueConflict, QueueError, audit
from monitor.queue.reply_checks import LENGTH_LIMITS, X_URL_LENGTH, ReplyCheck, check_reply, weighted_length
from sources.base import FatalSourceError, RateLimited, ReplyNotSupported, Source, SourceError

log = logging.getLogger(__name__)

_VARIABLE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
VARIABLES = ("first_name", "name", "handle", "brand")
DEFAULT_THANKS = "Thank you, {first_name}! We're so glad to hear it."


class ReplyRefused(QueueError):
    """The reply cannot be sent as it is; the message says why."""


class ThreadChanged(QueueConflict):
    """The thread moved on after the responder opened it; they must see it before replying."""


@dataclass(frozen=True, slots=True)
class SavedReply:
    """A saved reply offered for a post."""

    name: str
    text: str
    origin: str  # "config" or "database"
    #: The language of `text` when it is a per-language variant; None for the main text.
    language: str | None = None
    #: Every language the reply has a variant in.
    languages: tuple[str, ...] = ()


def first_name(author_name: str, handle: str) -> str:
    """Return the first word of a display name when it looks like a name, else the @handle.

    A display name that is only the handle again ("essexpastyuk", "mike_r_88") is not a name.
    """
    if author_name.strip().lstrip("@").casefold() == handle.lstrip("@").casefold() or "_" in author_name:
        return f"@{handle.lstrip('@')}"
    for word in author_name.split():
        letters = "".join(ch for ch in word if ch.isalpha() or ch in "-'")
        if letters and letters[0].isalpha():
            return letters
    return f"@{handle}"


def render_saved_reply(template: str, *, author_name: str, handle: str, brand: str) -> str:
    """Fill `{first_name}`, `{name}`, `{handle}` and `{brand}` into a saved reply; `{{`/`}}` are literal braces."""
    values = {"first_name": first_name(author_name, handle), "name": author_name.strip() or f"@{handle}",
              "handle": f"@{handle}", "brand": brand}

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1).strip()
        if name not in values:
            raise ReplyRefused(f"unknown variable {{{name}}} in saved reply; known: "
                               + ", ".join(f"{{{v}}}" for v in VARIABLES))
        return values[name]

    return _VARIABLE.sub(fill, template)


def saved_replies(
    db: Database, configured: Sequence[SavedReplySettings], *, network: str, kind: str, brand: str
) -> list[SavedReply]:
    """Return the saved replies that fit a post: from the config file first, then those added in the web page."""
    found = [SavedReply(s.name, s.text, "config") for s in configured
             if (s.kind in (None, kind)) and (s.networks is None or network in s.networks)]
    with db.session() as session:
        rows = session.execute(select(SavedReplyRow).order_by(SavedReplyRow.name)).scalars().all()
    found += [SavedReply(r.name, r.text, "database") for r in rows
              if r.kind in (None, kind) and r.network in (None, network) and r.brand in (None, brand)]
    return found


def add_saved_reply(db: Database, *, name: str, text: str, actor: str, brand: str | None = None,
                    network: str | None = None, kind: str | None = None, now: datetime | None = None) -> int:
    """Store a saved reply after checking its variables; return its id."""
    render_saved_reply(text, author_name="Test", handle="test", brand=brand or "brand")
    now = now or utcnow()
    with db.session() as session:
        if session.execute(select(SavedReplyRow.id).where(SavedReplyRow.name == name)).scalar() is not None:
            raise ReplyRefused(f"a saved reply called {name!r} already exists")
        row = SavedReplyRow(name=name, text=text, brand=brand, network=network, kind=kind, created_by=actor,
                            created_at=now)
        session.add(row)
        session.flush()
        audit(session, actor=actor, action="saved_reply_added", at=now, detail={"name": name})
        return row.id


def queue_reply(db: Database, item_id: int, actor: str, text: str, *, now: datetime | None = None,
                seen: ThreadState | None = None, translation: Mapping[str, Any] | None = None) -> ReplyRow:
    """Queue a public reply to an item through the outbox; refuse unless it can and should go out as it is.

    `seen` is the thread state the responder's form was rendered with; it must match as well as the last
    state recorded for them by `mark_seen`. `translation`, for a reply translated into the customer's language
    (`monitor.queue.translate`), goes into the audit row beside `text`: the text the responder wrote, and more.
    The reply answers the case's latest post by its customer (the item's own post when it has no case), and
    its row records that post (`replies.mention_id`).
    """
    now = now or utcnow()
    with db.session() as session:
        item = session.get(QueueItemRow, item_id)
        if item is None:
            raise ReplyRefused(f"no queue item {item_id}")
        item_mention = session.get(MentionRow, item.mention_id)
        assert item_mention is not None
        case = case_of_item(session, item_id)
        mention = (latest_customer_post(session, case) if case is not None else None) or item_mention
        check = check_reply(text, mention.network)
        if not check.ok:
            raise ReplyRefused("; ".join(check.errors))
        if mention.reply_path != ReplyPath.API:
            reason = mention.reply_path_reason or "the network does not allow it"
            verb = "open the post in the app to answer it" if mention.reply_path == ReplyPath.OPEN_IN_APP else "blocked"
            raise ReplyRefused(f"this post cannot be answered through brandmon ({verb}): {reason}")
        if item.claimed_by != actor or item.lease_until is None or item.lease_until <= now \
                or item.status not in ("claimed", "replied"):
            raise QueueConflict(f"claim item {item_id} before replying (it is {item.status}"
                                + (f", held by {item.claimed_by}" if item.claimed_by else "") + ")")
        pending = session.execute(
            select(ReplyRow.id).join(OutboxRow, OutboxRow.id == ReplyRow.outbox_id)
            .where(ReplyRow.queue_item_id == item_id, ReplyRow.status.in_(("queued", "sending")),
                   OutboxRow.status.in_(("pending", "sending")))).scalar()
        if pending is not None:
            raise ReplyRefused(f"reply {pending} to this item is still on its way; wait for it to post")
        current = thread_state(session, item_mention)  # what the item's page showed (the case's whole thread)
        recorded = seen_state(session, item_id, actor)
        if recorded is None:
            raise ThreadChanged("open the item and read its thread before replying")
        for state in (recorded, seen or recorded):
            if state != current:
                raise ThreadChanged(f"the thread changed after you opened it ({current.differences(state)}); "
                                    "reload it and read what is new before sending")
        # the lease and version are re-checked in the UPDATE, so a claim lost meanwhile cannot slip through
        touched = session.execute(
            update(QueueItemRow)
            .where(QueueItemRow.id == item_id, QueueItemRow.version == item.version,
                   QueueItemRow.claimed_by == actor, QueueItemRow.lease_until > now)
            .values(version=item.version + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if touched != 1:
            raise QueueConflict(f"item {item_id} changed while the reply was being queued; reload it")
        reply = ReplyRow(queue_item_id=item_id, mention_id=mention.id, author=actor, text=text, status="queued",
                         created_at=now)
        session.add(reply)
        session.flush()
        reply.outbox_id, _ = enqueue(
            session, kind=ReplyNotifier.kind, channel=mention.source_name, dedupe_key=f"reply:{reply.id}",
            payload={"reply_id": reply.id, "queue_item_id": item_id, "mention_id": mention.id,
                     "network": mention.network, "external_id": mention.external_id},
            now=now,
        )
        audit(session, actor=actor, action="reply_queued", at=now, item_id=item_id, mention_id=mention.id,
              detail={"reply_id": reply.id, "outbox_id": reply.outbox_id, "text": text, "warnings": check.warnings,
                      "answers": mention.external_id,
                      **({"translation": dict(translation)} if translation else {})})
        return reply


def thank_template(configured: Sequence[SavedReplySettings], network: str) -> str:
    """Return the first configured thank-you that fits the network, or a plain one."""
    for saved in configured:
        if saved.kind == "thank" and (saved.networks is None or network in saved.networks):
            return saved.text
    return DEFAULT_THANKS


def mention_from_row(row: MentionRow) -> Mention:
    """Rebuild the `Mention` a source produced from its stored row."""
    return Mention(
        network=row.network, external_id=row.external_id, author_handle=row.author_handle,
        author_name=row.author_name, text=row.text, created_at=row.created_at, url=row.url, language=row.language,
        author_followers=row.author_followers, author_verified=row.author_verified,
        conversation_id=row.conversation_id, parent_id=row.parent_id, reply_path=ReplyPath(row.reply_path),
        reply_path_reason=row.reply_path_reason, addressed=bool(row.addressed), raw=row.raw or {},
    )


def idempotency_key(reply_id: int) -> str:
    """Return the key every attempt at one reply is sent with (Mastodon's Idempotency-Key)."""
    return f"brandmon-reply-{reply_id}"


class ReplyNotifier(Notifier):
    """Deliver outbox rows of kind "reply" through the post's source and store what was posted.

    A reply row is "sending" from just before the network call until its outcome is recorded. One still
    "sending" when it is next looked at (the process died, or the call timed out) has an unknown outcome: the
    source is asked for the brand's own reply (`Source.find_reply`) and the row is settled as posted when it is
    there; only a reply the network does not have is sent again.
    """

    kind: ClassVar[str] = "reply"

    def __init__(self, db: Database, sources: Mapping[str, Source], *, clock: Any = utcnow) -> None:
        self.db = db
        self.sources = dict(sources)
        self.clock = clock

    def redacted(self) -> dict[str, Any]:
        """Describe the notifier: which sources it can post through."""
        return {"kind": self.kind, "sources": sorted(self.sources)}

    def send(self, delivery: Delivery) -> dict[str, Any]:
        """Post one queued reply; one already posted (recorded, or found on the network) is not posted again."""
        reply_id = int(delivery.payload["reply_id"])
        with self.db.session() as session:
            reply = session.get(ReplyRow, reply_id)
            if reply is None:
                raise DeliveryError(f"reply {reply_id} no longer exists", permanent=True)
            if reply.status == "posted":
                return _result(reply)
            in_doubt = reply.status == "sending"
            mention_row = session.get(MentionRow, reply.mention_id)
            assert mention_row is not None
            mention, text, source_name = mention_from_row(mention_row), reply.text, mention_row.source_name
        source = self.sources.get(source_name)
        if source is None:
            return self._fail(reply_id, f"source {source_name!r} is not running here, so it cannot post", True)
        if in_doubt:
            found = self._look_up(reply_id, source, mention, text)
            if found is not None:
                return found
        with self.db.session() as session:
            reply = session.get(ReplyRow, reply_id)
            assert reply is not None
            reply.status = "sending"  # committed before the call: from here on the outcome may be unknown
        try:
            posted = source.reply(mention, text, idempotency_key=idempotency_key(reply_id))
        except ReplyNotSupported as exc:
            return self._fail(reply_id, str(exc), True)
        except RateLimited as exc:
            wait_s = max(1.0, (exc.retry_at - self.clock()).total_seconds())
            return self._fail(reply_id, str(exc), False, retry_after_s=wait_s)
        except FatalSourceError as exc:
            return self._fail(reply_id, str(exc), True)
        except SourceError as exc:  # a timeout or a 5xx: the network may have it, so look before sending again
            return self._fail(reply_id, str(exc), False, in_doubt=True)
        return self._record(reply_id, posted, action="reply_posted")

    def find_sent(self, delivery: Delivery) -> dict[str, Any] | None:
        """Return the reply's result when it was posted: recorded before a crash, or found on the network now."""
        reply_id = int(delivery.payload["reply_id"])
        with self.db.session() as session:
            reply = session.get(ReplyRow, reply_id)
            if reply is None or reply.status != "sending":
                return _result(reply) if reply is not None and reply.status == "posted" else None
            mention_row = session.get(MentionRow, reply.mention_id)
            assert mention_row is not None
            mention, text, source_name = mention_from_row(mention_row), reply.text, mention_row.source_name
        source = self.sources.get(source_name)
        return None if source is None else self._look_up(reply_id, source, mention, text)

    def _look_up(self, reply_id: int, source: Source, mention: Mention, text: str) -> dict[str, Any] | None:
        """Ask the network for a reply of unknown outcome: settle it when found, else mark it safe to send."""
        try:
            found = source.find_reply(mention, text)
        except RateLimited as exc:
            wait_s = max(1.0, (exc.retry_at - self.clock()).total_seconds())
            raise DeliveryError(f"reply {reply_id}: cannot tell yet whether it was posted: {exc}",
                                retry_after_s=wait_s) from None
        except SourceError as exc:  # not knowing is no licence to post again: try the lookup later
            raise DeliveryError(f"reply {reply_id}: cannot tell yet whether it was posted: {exc}") from None
        if found is not None:
            log.info("reply %d was already on %s as %s; settled without posting again", reply_id, source.network,
                     found.external_id)
            return self._record(reply_id, found, action="reply_settled")
        with self.db.session() as session:
            reply = session.get(ReplyRow, reply_id)
            if reply is not None and reply.status == "sending":
                reply.status = "queued"  # the network has no such reply: sending it is safe, and no second look
        return None

    def _record(self, reply_id: int, posted: PostedReply, *, action: str) -> dict[str, Any]:
        """Store a reply the network has, and move its item on as a posted reply does."""
        now = self.clock()
        with self.db.session() as session:
            reply = session.get(ReplyRow, reply_id)
            assert reply is not None
            if reply.status == "posted":
                return _result(reply)
            reply.status, reply.external_id, reply.url = "posted", posted.external_id, posted.url
            reply.posted_at, reply.error = posted.posted_at, None
            item = session.get(QueueItemRow, reply.queue_item_id)
            if item is not None:
                item.first_response_at = item.first_response_at or posted.posted_at
                if item.status in ("new", "claimed", "snoozed"):
                    item.status = "replied"
                item.version += 1
                item.updated_at = now
            record_brand_reply(session, queue_item_id=reply.queue_item_id, mention_id=reply.mention_id,
                               external_id=posted.external_id, author=reply.author, at=posted.posted_at, now=now)
            audit(session, actor=reply.author, action=action, at=now, item_id=reply.queue_item_id,
                  mention_id=reply.mention_id, detail={"reply_id": reply_id, "external_id": posted.external_id,
                                                       "url": posted.url})
            log.info("reply %d %s as %s", reply_id, "found" if action == "reply_settled" else "posted",
                     posted.external_id)
            return _result(reply)

    def _fail(self, reply_id: int, error: str, permanent: bool, *, retry_after_s: float | None = None,
              in_doubt: bool = False) -> Any:
        with self.db.session() as session:
            reply = session.get(ReplyRow, reply_id)
            assert reply is not None
            reply.error = error
            reply.status = "failed" if permanent else "sending" if in_doubt else "queued"
            if permanent:
                audit(session, actor="brandmon", action="reply_failed", at=self.clock(), item_id=reply.queue_item_id,
                      mention_id=reply.mention_id, detail={"reply_id": reply_id, "error": error})
        log.warning("reply %d not posted: %s", reply_id, error)
        raise DeliveryError(f"reply {reply_id}: {error}", permanent=permanent, retry_after_s=retry_after_s)


def _result(reply: ReplyRow) -> dict[str, Any]:
    return {"reply_id": reply.id, "external_id": reply.external_id, "url": reply.url,
            "posted_at": reply.posted_at.isoformat() if reply.posted_at else None}


__all__ = ["LENGTH_LIMITS", "X_URL_LENGTH", "ReplyCheck",
           "ReplyNotifier", "ReplyRefused", "SavedReply", "ThreadChanged", "add_saved_reply",
           "check_reply", "idempotency_key", "mark_seen", "queue_reply", "render_saved_reply", "saved_replies",
           "weighted_length"]
