"""The pages: login, the queue, one item with its context and reply form, the audit log, admin."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from core.storage.queue_tables import ROLES
from core.storage.schema import ReplyRow
from models.base import SENTIMENTS, URGENCY_CATEGORIES
from monitor.queue.cases_store import cases_by_item
from monitor.queue.categories import brand_categories, own_choices
from monitor.queue.context import ThreadState, current_thread_state, customer_context, mark_seen
from monitor.queue.items import (
    OPEN_STATUSES,
    ItemNotFound,
    QueueEntry,
    QueueError,
    audit_trail,
    claim,
    get_entry,
    list_queue,
    set_status,
    wake_snoozed,
)
from monitor.queue.languages import brand_language, saved_replies_in, thank_in
from monitor.queue.reclassify import reclassify
from monitor.queue.replies import (
    ReplyCheck,
    ReplyRefused,
    SavedReply,
    ThreadChanged,
    add_saved_reply,
    check_reply,
    queue_reply,
    render_saved_reply,
)
from monitor.queue.sla import sla_status
from monitor.queue.translate import ReplyTranslation
from monitor.web.auth import User, UserError, add_user, list_users
from monitor.web.context import (
    AdminUser,
    CurrentUser,
    clean,
    ctx,
    flash,
    redirect,
    render,
    require_csrf,
)
from monitor.web.translation import post_language, sign_proposal, translation_view

log = logging.getLogger(__name__)
router = APIRouter()
CSRF = [Depends(require_csrf)]
VIEWS = {
    "open": OPEN_STATUSES,
    "mine": ("claimed", "replied"),
    "replied": ("replied",),
    "closed": ("resolved", "not_relevant"),
}
#: Ids are 64-bit integers in the database; anything outside is simply not found (and never reaches SQL).
MAX_ID = 2**63 - 1
ItemId = Annotated[int, Path(ge=1, le=MAX_ID)]
#: Counts are 32-bit integers in the database.
MAX_COUNT = 2**31 - 1
#: The longest snooze: a year.
MAX_SNOOZE_MIN = 366 * 24 * 60


# -- the queue ----------------------------------------------------------------------------------------------

@router.get("/")
def queue_page(request: Request, user: CurrentUser, view: str = "open",
               brand: Annotated[str | None, Query(max_length=200)] = None) -> Response:
    """List queue items, most urgent first, with their SLA state."""
    context = ctx(request)
    brand = clean(brand, field="brand", limit=200) if brand else None
    now = context.now()
    if view not in VIEWS:
        raise HTTPException(status_code=404, detail=f"no queue view {view!r}")
    wake_snoozed(context.db, now=now)
    entries = list_queue(context.db, statuses=VIEWS[view], brand=brand or None, limit=200,
                         claimed_by=user.username if view == "mine" else None)
    rows = [(entry, _sla(entry.item, now, context.settings.queue.breach_warning_min)) for entry in entries]
    with context.db.session() as session:
        cases = cases_by_item(session, [entry.item.id for entry in entries])
    return render(request, "queue.html", user=user, rows=rows, view=view, views=list(VIEWS), brand=brand or "",
                  cases=cases)


def _sla(item: object, now: object, warning_min: int) -> object:
    return sla_status(first_response_due=item.first_response_due,  # type: ignore[attr-defined]
                      resolution_due=item.resolution_due,  # type: ignore[attr-defined]
                      first_response_at=item.first_response_at,  # type: ignore[attr-defined]
                      resolved_at=item.resolved_at, now=now, warning_min=warning_min)  # type: ignore[attr-defined, arg-type]


def offered_replies(request: Request, entry: QueueEntry) -> list[SavedReply]:
    """Return the saved replies that fit an item's post, each in the post's language where it has that variant."""
    context, mention = ctx(request), entry.mention
    return saved_replies_in(context.db, context.settings.queue.saved_replies, network=mention.network,
                            kind=entry.item.kind, brand=mention.brand, language=post_language(entry),
                            default_language=brand_language(context.settings, mention.brand))


def item_page_response(request: Request, user: User, item_id: int, *, draft: str = "",
                       check: ReplyCheck | None = None, error: str | None = None, status_code: int = 200,
                       proposal: ReplyTranslation | None = None, approved_text: str | None = None,
                       translate_draft: str = "") -> Response:
    """Render the item page: the post (translated beside it where that is on), its context and the reply forms."""
    context = ctx(request)
    now = context.now()
    try:
        entry = get_entry(context.db, item_id)
    except ItemNotFound:
        raise HTTPException(status_code=404, detail=f"no queue item {item_id}") from None
    mention, item = entry.mention, entry.item
    state = current_thread_state(context.db, mention.id)  # a GET records nothing: "seen" is posted with the reply
    offered = []
    for saved in offered_replies(request, entry):
        try:
            text = render_saved_reply(saved.text, author_name=mention.author_name, handle=mention.author_handle,
                                      brand=mention.brand)
        except ReplyRefused as exc:
            text = f"(cannot use: {exc})"
        offered.append((saved.name, text, saved.language))
    holder = item.claimed_by if item.lease_until is not None and item.lease_until > now else None
    # the translation as the responder last edited it, else as the server proposed it
    shown = approved_text if approved_text is not None else (proposal.text if proposal else "")
    return render(
        request, "item.html", user=user, entry=entry, item=item, mention=mention, scores=entry.scores,
        context=customer_context(context.db, mention.id), state=state, saved=offered, draft=draft,
        check=check or (check_reply(draft, mention.network) if draft else None), error=error,
        sla=_sla(item, now, context.settings.queue.breach_warning_min), holder=holder,
        mine=holder == user.username, trail=audit_trail(context.db, item_id=item.id, limit=100),
        sentiments=SENTIMENTS, categories=URGENCY_CATEGORIES, status_code=status_code,
        own_categories=own_choices(mention.brand, brand_categories(context.settings.brands)),
        translation=translation_view(context, entry), proposal=proposal, translate_draft=translate_draft,
        proposal_token=sign_proposal(context, proposal, actor=user.username) if proposal else "",
        approved_text=shown, approved_check=check_reply(shown, mention.network) if proposal else None,
    )


@router.get("/items/{item_id}")
def item_page(request: Request, user: CurrentUser, item_id: ItemId,
              saved: Annotated[str | None, Query(max_length=200)] = None,
              thank: Annotated[int, Query(ge=0, le=1)] = 0) -> Response:
    """Show one item with its customer's context and the reply form (a GET changes nothing)."""
    draft = ""
    if saved or thank:
        context = ctx(request)
        try:
            entry = get_entry(context.db, item_id)
        except ItemNotFound:
            raise HTTPException(status_code=404, detail=f"no queue item {item_id}") from None
        mention = entry.mention
        template = thank_in(context.db, context.settings.queue.saved_replies, network=mention.network,
                            language=post_language(entry),
                            default_language=brand_language(context.settings, mention.brand)) if thank else next(
            (s.text for s in offered_replies(request, entry) if s.name == saved), "")
        try:
            draft = render_saved_reply(template, author_name=mention.author_name, handle=mention.author_handle,
                                       brand=mention.brand)
        except ReplyRefused as exc:
            flash(request, "error", str(exc))
    return item_page_response(request, user, item_id, draft=draft)


@router.post("/items/{item_id}/claim", dependencies=CSRF)
def claim_item(request: Request, user: CurrentUser, item_id: ItemId) -> Response:
    """Claim the item for the logged-in responder."""
    context = ctx(request)
    try:
        row = claim(context.db, item_id, user.username, now=context.now(), lease_min=context.settings.queue.lease_min)
        flash(request, "ok", f"You have item {item_id} until {row.lease_until:%H:%M} UTC.")
    except QueueError as exc:
        flash(request, "error", str(exc))
    return redirect(f"/items/{item_id}")


@router.post("/items/{item_id}/reply", dependencies=CSRF)
def reply_item(request: Request, user: CurrentUser, item_id: ItemId, text: str = Form(""),
               action: str = Form("send"), seen_newest: int = Form(0, ge=0, le=MAX_ID),
               seen_replies: int = Form(0, ge=0, le=MAX_COUNT)) -> Response:
    """Check a draft, or record what the form showed as seen and queue the reply, posting it at once."""
    context = ctx(request)
    text = clean(text, field="the reply").replace("\r\n", "\n")
    if action == "check":
        return item_page_response(request, user, item_id, draft=text)
    try:
        entry = get_entry(context.db, item_id)
        # the form carries the thread state it was rendered with: that is what this responder has seen
        mark_seen(context.db, item_id, entry.mention.id, user.username, now=context.now(),
                  state=ThreadState(seen_newest, seen_replies))
        reply = queue_reply(context.db, item_id, user.username, text, now=context.now(),
                            seen=ThreadState(seen_newest, seen_replies))
    except ThreadChanged as exc:
        return item_page_response(request, user, item_id, draft=text, error=str(exc), status_code=409)
    except QueueError as exc:
        return item_page_response(request, user, item_id, draft=text, error=str(exc), status_code=400)
    announce_reply(request, reply.id)
    return redirect(f"/items/{item_id}")


def announce_reply(request: Request, reply_id: int) -> None:
    """Post a just-queued reply at once where a deliverer is set up, and flash how that went."""
    context = ctx(request)
    if context.deliverer is not None:
        context.deliverer.deliver_due(limit=20)
    with context.db.session() as session:
        row = session.get(ReplyRow, reply_id)
    if row is not None and row.status == "posted":
        flash(request, "ok", f"Reply posted: {row.url}")
    elif row is not None and row.status == "failed":
        flash(request, "error", f"The reply could not be posted: {row.error}")
    else:
        flash(request, "ok", "Reply queued; it is posted as soon as the network allows"
              + (f" (last try: {row.error})" if row is not None and row.error else ""))


@router.post("/items/{item_id}/status", dependencies=CSRF)
def change_status(request: Request, user: CurrentUser, item_id: ItemId, status: str = Form(..., max_length=32),
                  snooze_minutes: int = Form(60, ge=1, le=MAX_SNOOZE_MIN), force: str = Form("")) -> Response:
    """Resolve, snooze, mark not relevant, release or reopen an item."""
    context = ctx(request)
    now = context.now()
    until = now + timedelta(minutes=snooze_minutes) if status == "snoozed" else None
    try:
        set_status(context.db, item_id, status, user.username, now=now, snooze_until=until,
                   force=user.is_admin and force == "1")
        flash(request, "ok", f"Item {item_id} is now {status.replace('_', ' ')}.")
    except QueueError as exc:
        flash(request, "error", str(exc))
    return redirect("/" if status in ("resolved", "not_relevant", "snoozed") else f"/items/{item_id}")


@router.post("/items/{item_id}/reclassify", dependencies=CSRF)
def reclassify_item(request: Request, user: CurrentUser, item_id: ItemId, sentiment: str = Form("", max_length=32),
                    complaint: str = Form("", max_length=8),
                    urgency_category: str = Form("", max_length=64)) -> Response:
    """Correct the post's labels; the correction becomes a training example."""
    context = ctx(request)
    try:
        entry = get_entry(context.db, item_id)
        reclassify(context.db, entry.mention.id, user.username, sla=context.settings.sla,
                   categories=brand_categories(context.settings.brands), sentiment=sentiment or None,
                   complaint={"yes": True, "no": False}.get(complaint), urgency_category=urgency_category or None,
                   now=context.now(), item_id=item_id, force=user.is_admin)
        flash(request, "ok", "Thanks: the correction is saved as a training example, and the item's priority, "
                             "deadlines and kind follow it.")
    except QueueError as exc:
        flash(request, "error", str(exc))
    return redirect(f"/items/{item_id}")


# -- audit and admin ----------------------------------------------------------------------------------------

@router.get("/audit")
def audit_page(request: Request, user: AdminUser) -> Response:
    """Show the newest audit rows."""
    return render(request, "audit.html", user=user, trail=audit_trail(ctx(request).db, limit=500))


@router.get("/admin")
def admin_page(request: Request, user: AdminUser) -> Response:
    """Show users and saved replies, with forms to add them."""
    from core.storage.queue_tables import SavedReplyRow

    with ctx(request).db.session() as session:
        stored = session.execute(select(SavedReplyRow).order_by(SavedReplyRow.name)).scalars().all()
    return render(request, "admin.html", user=user, users=list_users(ctx(request).db), roles=ROLES,
                  configured=ctx(request).settings.queue.saved_replies, stored=stored)


@router.post("/admin/users", dependencies=CSRF)
def admin_add_user(request: Request, user: AdminUser, username: str = Form(""), password: str = Form(""),
                   role: str = Form("responder")) -> Response:
    """Add a user."""
    try:
        username, role = clean(username, field="username", limit=200), clean(role, field="role", limit=32)
        add_user(ctx(request).db, username, password, role=role, actor=user.username, now=ctx(request).now())
        flash(request, "ok", f"User {username} added.")
    except UserError as exc:
        flash(request, "error", str(exc))
    return redirect("/admin")


@router.post("/admin/saved-replies", dependencies=CSRF)
def admin_add_saved(request: Request, user: AdminUser, name: str = Form(""), text: str = Form(""),
                    network: str = Form(""), kind: str = Form("")) -> Response:
    """Add a saved reply."""
    try:
        name, text = clean(name, field="name", limit=200), clean(text, field="the text")
        network, kind = clean(network, field="network", limit=32), clean(kind, field="kind", limit=16)
        if not name.strip() or not text.strip():
            raise ReplyRefused("a saved reply needs a name and a text")
        add_saved_reply(ctx(request).db, name=name.strip(), text=text, actor=user.username, network=network or None,
                        kind=kind or None, now=ctx(request).now())
        flash(request, "ok", f"Saved reply {name} added.")
    except ReplyRefused as exc:
        flash(request, "error", str(exc))
    return redirect("/admin")
