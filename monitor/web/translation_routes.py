"""The reply form's translation option: write in the team's language, approve the customer-language text, send.

`POST /items/{id}/translate-reply` asks the LibreTranslate server (`translation.url`) for the reply in the post's
language and shows it, editable, beside what the responder wrote; nothing is queued. `POST
/items/{id}/translate-reply/approve` queues the approved text through `queue_translated_reply`, which keeps both
texts (and the server's own, when the responder edited it) in the audit log. Both are CSRF-checked form posts; a
server that fails or refuses is a notice on the page, never an error page.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from monitor.queue.context import ThreadState, mark_seen
from monitor.queue.items import ItemNotFound, QueueEntry, QueueError, get_entry
from monitor.queue.replies import ThreadChanged
from monitor.queue.translate import (
    TranslationError,
    TranslationRateLimited,
    TranslationUnavailable,
    propose_reply_translation,
    queue_translated_reply,
)
from monitor.web.context import CurrentUser, clean, ctx, redirect, require_csrf
from monitor.web.routes import MAX_COUNT, MAX_ID, ItemId, announce_reply, item_page_response
from monitor.web.translation import ProposalInvalid, languages_of, read_proposal

log = logging.getLogger(__name__)
router = APIRouter()
CSRF = [Depends(require_csrf)]
#: A signed proposal carries both texts, base64-encoded: room for two replies of the longest allowed length.
MAX_PROPOSAL = 60_000


def _entry(request: Request, item_id: int) -> QueueEntry:
    try:
        return get_entry(ctx(request).db, item_id)
    except ItemNotFound:
        raise HTTPException(status_code=404, detail=f"no queue item {item_id}") from None


def _status_of(exc: TranslationError) -> int:
    """Return the page's status for a failed translation: 503 when the server is down or asks us to wait."""
    return 503 if isinstance(exc, TranslationUnavailable | TranslationRateLimited) else 400


@router.post("/items/{item_id}/translate-reply", dependencies=CSRF)
def propose_translation(request: Request, user: CurrentUser, item_id: ItemId, text: str = Form("")) -> Response:
    """Translate a reply written in the team's language into the post's, and show it for approval."""
    context = ctx(request)
    text = clean(text, field="the reply").replace("\r\n", "\n")
    entry = _entry(request, item_id)
    if context.translator is None:
        error = context.translator_error or "Translation is off: set translation.url to a LibreTranslate server."
        return item_page_response(request, user, item_id, translate_draft=text, error=error, status_code=400)
    team = languages_of(context, entry, with_names=False).team
    try:
        proposal = propose_reply_translation(context.db, context.translator, item_id, text, source=team)
    except TranslationError as exc:
        return item_page_response(request, user, item_id, translate_draft=text, status_code=_status_of(exc),
                                  error=f"The reply could not be translated: {exc}")
    log.info("item %d: %s had a reply translated %s -> %s", item_id, user.username, proposal.source,
             proposal.target)
    return item_page_response(request, user, item_id, proposal=proposal)


@router.post("/items/{item_id}/translate-reply/approve", dependencies=CSRF)
def approve_translation(request: Request, user: CurrentUser, item_id: ItemId, proposal: str = Form(""),
                        approved_text: str = Form(""), action: str = Form("approve", max_length=16),
                        seen_newest: int = Form(0, ge=0, le=MAX_ID),
                        seen_replies: int = Form(0, ge=0, le=MAX_COUNT)) -> Response:
    """Check the (edited) translation, or queue it as approved and post it at once."""
    context = ctx(request)
    token = clean(proposal, field="the proposed translation", limit=MAX_PROPOSAL)
    approved = clean(approved_text, field="the translation").replace("\r\n", "\n")
    entry = _entry(request, item_id)
    try:
        found = read_proposal(context, token, item_id=item_id, actor=user.username, network=entry.mention.network)
    except ProposalInvalid as exc:
        return item_page_response(request, user, item_id, error=str(exc), status_code=400)
    if action == "check":
        return item_page_response(request, user, item_id, proposal=found, approved_text=approved)
    seen = ThreadState(seen_newest, seen_replies)
    try:
        # the form carries the thread state it was rendered with: that is what this responder has seen
        mark_seen(context.db, item_id, entry.mention.id, user.username, now=context.now(), state=seen)
        reply = queue_translated_reply(context.db, user.username, found, approved_text=approved,
                                       now=context.now(), seen=seen)
    except ThreadChanged as exc:
        return item_page_response(request, user, item_id, proposal=found, approved_text=approved, error=str(exc),
                                  status_code=409)
    except QueueError as exc:
        return item_page_response(request, user, item_id, proposal=found, approved_text=approved, error=str(exc),
                                  status_code=400)
    announce_reply(request, reply.id)
    return redirect(f"/items/{item_id}")


__all__ = ["router"]
