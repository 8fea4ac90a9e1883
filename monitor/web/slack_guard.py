"""What /slack/actions checks before it trusts a request: a capped body, read in full only below the cap; a
signature seen once (the nonce store); a body that decodes; a button whose item is on the message it came from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.storage import Database, insert_ignore
from core.storage.incident_tables import IncidentMemberRow
from core.storage.schema import QueueItemRow
from core.storage.web_tables import SlackNonceRow

#: Slack's interactivity payloads are a few KiB; nothing legitimate comes near this.
MAX_BODY_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    """The request body is over the cap (413)."""


class BadBody(Exception):
    """The request body cannot be read as Slack's form-encoded JSON payload (400)."""


async def read_capped(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """Return the request body, refusing by its Content-Length or while streaming once it passes `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise BadBody("Content-Length is not a number")
        if int(declared) > limit:
            raise BodyTooLarge(f"body of {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_form(body: bytes) -> dict[str, Any]:
    """Return the JSON `payload` field of Slack's form-encoded request; raise `BadBody` when it is not one."""
    try:
        text = body.decode("utf-8")
        fields = parse_qs(text, errors="strict", max_num_fields=50)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadBody(f"the body is not UTF-8 form data: {exc.__class__.__name__}") from None
    raw = fields.get("payload", ["{}"])[-1]
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise BadBody("the payload field is not JSON") from None
    if not isinstance(payload, dict):
        raise BadBody("the payload field is not a JSON object")
    return payload


def first_use(db: Database, timestamp: str, signature: str, *, now: datetime, max_age_s: int) -> bool:
    """Record a verified request's signature; return False when it was seen before (a replay)."""
    nonce = hashlib.sha256(f"{timestamp}:{signature}".encode("utf-8", "replace")).hexdigest()
    with db.session() as session:
        # a signature older than the accepted age is refused by its timestamp anyway: forget it
        session.execute(delete(SlackNonceRow).where(SlackNonceRow.seen_at < now - timedelta(seconds=2 * max_age_s)))
        inserted = insert_ignore(session, SlackNonceRow, [{"nonce": nonce, "seen_at": now}], conflict=("nonce",),
                                 returning=("nonce",))
    return bool(inserted)


def message_items(session: Session, payload: dict[str, Any], incident_id: int | None) -> tuple[set[int], set[int]]:
    """Return the queue item ids and post ids a message (and its incident, for a root message) is about."""
    items = {int(v) for v in (payload.get("queue_item_id"),) if isinstance(v, int)}
    mentions = {int(v) for v in (payload.get("mention_id"),) if isinstance(v, int)}
    if incident_id is not None:
        members: Iterable[tuple[int, int | None]] = session.execute(
            select(IncidentMemberRow.mention_id, QueueItemRow.id)
            .outerjoin(QueueItemRow, QueueItemRow.mention_id == IncidentMemberRow.mention_id)
            .where(IncidentMemberRow.incident_id == incident_id)).all()
        for mention_id, item_id in members:
            mentions.add(int(mention_id))
            if item_id is not None:
                items.add(int(item_id))
    return items, mentions
