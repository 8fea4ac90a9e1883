"""Slack button clicks: verify Slack's signature, acknowledge at once, change the queue item, show who acted.

Clicks arrive over HTTP (`build_router`, an `APIRouter` the web app mounts at /slack/actions) or Socket Mode
(`socket_mode_listener`). Either way the request is acknowledged first and the work runs after: the queue
change (claim, not relevant, reclassify; each writes the audit log) and a re-armed outbox row, so the message
is edited through the same rate-limited, crash-safe outbox as every other Slack message. A click on a line of a
batched route's summary re-arms that summary (`rearm_line`): the one message is edited, that line showing who acted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, BackgroundTasks, Request, Response
from sqlalchemy import select

from core.outbox import rearm
from core.settings import SlackSettings, SlaSettings
from core.storage import Database
from core.storage.incident_tables import IncidentMemberRow, IncidentRow
from core.storage.schema import OutboxRow, QueueItemRow, utcnow
from monitor.pipeline.batches import rearm_line
from monitor.pipeline.route.incidents import incident_payload
from monitor.web.slack_guard import BadBody, BodyTooLarge, first_use, message_items, parse_form, read_capped

if TYPE_CHECKING:
    from monitor.queue.categories import BrandCategories

log = logging.getLogger(__name__)

OPEN_STATUSES = ("new", "claimed", "snoozed")
#: Actions that only open a URL; Slack still reports them and they need nothing but the acknowledgement.
LINK_ACTIONS = frozenset({"open_queue", "open_post"})


class SignatureError(Exception):
    """A request that did not come from Slack, or came too late (a replay)."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Return Slack's v0 signature of a request body: HMAC-SHA256 over "v0:{timestamp}:{body}"."""
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def verify_signature(
    secret: str, *, timestamp: str | None, signature: str | None, body: bytes, now: datetime, max_age_s: int = 300
) -> None:
    """Raise `SignatureError` unless the request is signed with `secret` and at most `max_age_s` old."""
    if not secret:
        raise SignatureError("no signing secret is configured (BRANDMON_SLACK_SIGNING_SECRET)")
    if not timestamp or not signature:
        raise SignatureError("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SignatureError("X-Slack-Request-Timestamp is not a number") from None
    if abs(now.timestamp() - sent_at) > max_age_s:
        raise SignatureError(f"request is {abs(now.timestamp() - sent_at):.0f}s old; refused as a possible replay")
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode("utf-8", "replace")):
        raise SignatureError("signature does not match")


@dataclass(frozen=True, slots=True)
class ButtonAction:
    """One click, with what the button carried and who pressed it where."""

    action_id: str
    user_id: str
    user_name: str
    channel_id: str | None
    message_ts: str | None
    outbox_id: int | None
    item_id: int | None
    mention_id: int | None
    incident_id: int | None
    option: str | None = None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_actions(payload: Mapping[str, Any]) -> list[ButtonAction]:
    """Read the clicks out of a `block_actions` payload (anything else, or any odd shape, yields none)."""
    if payload.get("type") != "block_actions":
        return []
    user = _dict(payload.get("user"))
    container = _dict(payload.get("container"))
    channel = _text(_dict(payload.get("channel")).get("id")) or _text(container.get("channel_id"))
    listed = payload.get("actions")
    actions = []
    for action in (a for a in (listed if isinstance(listed, list) else []) if isinstance(a, Mapping)):
        raw = str(action.get("value") or "")
        option = None
        if action.get("selected_option"):
            option, _, raw = str(_dict(action["selected_option"]).get("value") or "").partition("|")
        try:
            carried = json.loads(raw) if raw else {}
        except (json.JSONDecodeError, RecursionError):
            carried = {}
        carried = carried if isinstance(carried, dict) else {}
        actions.append(
            ButtonAction(
                action_id=str(action.get("action_id") or ""),
                user_id=str(user.get("id") or ""),
                user_name=str(user.get("username") or user.get("name") or user.get("id") or "someone"),
                channel_id=channel,
                message_ts=_text(container.get("message_ts")),
                outbox_id=_int(carried.get("o")),
                item_id=_int(carried.get("q")),
                mention_id=_int(carried.get("m")),
                incident_id=_int(carried.get("i")),
                option=option,
            )
        )
    return actions


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What a click did: the action, whether it went through, and a note for the message."""

    action: str
    ok: bool
    note: str | None = None


class ActionHandler:
    """Apply clicks to the reply queue and re-arm the clicked message so it shows who acted."""

    def __init__(
        self,
        db: Database,
        slack: SlackSettings,
        *,
        clock: Callable[[], datetime] = utcnow,
        lease_min: int | None = None,
        on_change: Callable[[], None] | None = None,
        sla: SlaSettings | None = None,
        categories: BrandCategories | None = None,
    ) -> None:
        self.db = db
        self.slack = slack
        self.sla = sla or SlaSettings()  # the config's `sla`: a reclassified post's level and deadlines
        self.categories = categories  # the brands' own categories a post may be reclassified to
        self.clock = clock
        self.lease_min = lease_min
        self.on_change = on_change

    def handle_payload(self, payload: Mapping[str, Any]) -> list[ActionResult]:
        """Handle every click in one interactivity payload; never raises."""
        results = []
        for action in parse_actions(payload):
            try:
                results.append(self.handle(action))
            except Exception:  # one bad click must not lose the others, nor crash the web app's worker
                log.exception("slack action %s by %s failed", action.action_id, action.user_id)
                results.append(ActionResult(action.action_id, False, "failed; see the brandmon log"))
        if any(r.ok or r.note for r in results) and self.on_change is not None:
            self.on_change()
        return results

    def handle(self, action: ButtonAction) -> ActionResult:
        """Apply one click; refusals (someone else holds the item) are shown on the message, not raised."""
        from monitor.queue.items import QueueError, claim, set_status
        from monitor.queue.reclassify import reclassify

        if action.action_id in LINK_ACTIONS:
            return ActionResult(action.action_id, True)
        actor = f"slack:{action.user_id or action.user_name}"
        now = self.clock()
        row, incident = self._message(action)
        if row is None:
            return ActionResult(action.action_id, False, "the message is not one brandmon sent")
        if not self._on_message(row, incident, action):
            log.warning("slack action %s by %s names item %s / post %s, which are not on outbox %d",
                        action.action_id, action.user_id, action.item_id, action.mention_id, row.id)
            return ActionResult(action.action_id, False, "the button's item is not on this message")
        is_root = incident is not None and incident.root_outbox_id == row.id
        outcome = ActionResult(action.action_id, True)
        try:
            if action.action_id == "claim" and action.item_id:
                claim(self.db, action.item_id, actor, now=now, lease_min=self.lease_min)
            elif action.action_id == "not_relevant":
                items = self._incident_items(incident) if is_root and incident else [action.item_id]
                for item_id in (i for i in items if i):
                    set_status(self.db, item_id, "not_relevant", actor, now=now)
            elif action.action_id == "reclassify" and action.mention_id and action.option:
                field, _, value = action.option.partition("=")
                corrections: dict[str, dict[str, Any]] = {"sentiment": {"sentiment": value},
                                                          "complaint": {"complaint": value == "yes"},
                                                          "urgency_category": {"urgency_category": value}}
                corrected = corrections.get(field, {})
                if not corrected:
                    return ActionResult(action.action_id, False, f"unknown reclassification {action.option!r}")
                reclassify(self.db, action.mention_id, actor, sla=self.sla, categories=self.categories, now=now,
                           **corrected)
                outcome = ActionResult("reclassify", True, action.option.replace("=", ": "))
            else:
                return ActionResult(action.action_id, False, "unknown or incomplete action")
        except QueueError as exc:
            outcome = ActionResult(action.action_id, False, str(exc))
        self._show(row.id, action, outcome, now=now)
        return outcome

    def _message(self, action: ButtonAction) -> tuple[OutboxRow | None, IncidentRow | None]:
        if action.outbox_id is None:
            return None, None
        with self.db.session() as session:
            row = session.get(OutboxRow, action.outbox_id)
            if row is None or row.kind != "slack" or not row.result:
                return None, None
            # the click must come from the message the button is on, in the channel it was posted to
            if action.message_ts and row.result.get("ts") != action.message_ts:
                return None, None
            # the message's own record says which incident it is about; a button naming another is refused
            incident_id = _int(row.payload.get("incident_id"))
            if action.incident_id is not None and action.incident_id != incident_id:
                return row, None
            incident = session.get(IncidentRow, incident_id) if incident_id else None
            return row, incident

    def _on_message(self, row: OutboxRow, incident: IncidentRow | None, action: ButtonAction) -> bool:
        """Return True when the item and post a button names are the ones its message (or incident) is about."""
        with self.db.session() as session:
            # an incident's root message is about all its posts; any other message about its own post only
            root_of = incident.id if incident is not None and incident.root_outbox_id == row.id else None
            items, mentions = message_items(session, row.payload, root_of)
        if action.incident_id is not None and (incident is None or incident.id != action.incident_id):
            return False
        return (action.item_id is None or action.item_id in items) and (
            action.mention_id is None or action.mention_id in mentions)

    def _incident_items(self, incident: IncidentRow) -> list[int]:
        with self.db.session() as session:
            return list(
                session.execute(
                    select(QueueItemRow.id)
                    .join(IncidentMemberRow, IncidentMemberRow.mention_id == QueueItemRow.mention_id)
                    .where(IncidentMemberRow.incident_id == incident.id, QueueItemRow.status.in_(OPEN_STATUSES))
                )
                .scalars()
                .all()
            )

    def _show(self, outbox_id: int, action: ButtonAction, outcome: ActionResult, *, now: datetime) -> None:
        entry = {
            "action": outcome.action if outcome.ok else f"{action.action_id}_refused",
            "user_id": action.user_id,
            "by": action.user_name,
            "at": now.isoformat(),
            "note": outcome.note,
            "option": action.option if outcome.ok else None,  # what a reclassification chose, for a summary's line
        }
        with self.db.session() as session:
            row = session.get(OutboxRow, outbox_id)
            assert row is not None
            incident_id = row.payload.get("incident_id")
            incident = session.get(IncidentRow, int(incident_id)) if incident_id else None
            if incident is not None and incident.root_outbox_id == row.id:
                incident.acted = [*(incident.acted or []), entry]
                if outcome.ok and action.action_id == "not_relevant":
                    incident.status = "dismissed"
                session.flush()
                if row.payload.get("type") == "incident":
                    payload = incident_payload(session, incident, self.slack)
                else:
                    payload = {**row.payload, "acted": list(incident.acted)}
            else:
                payload = {**row.payload, "acted": [*(row.payload.get("acted") or []), entry]}
            if (row.result or {}).get("batch_key"):  # a line of a window's summary: that summary is edited
                rearm_line(session, row.id, payload, now=now)
            else:
                rearm(session, row.id, payload, now=now)
        log.info(
            "slack action %s by %s on outbox %d: %s",
            action.action_id,
            action.user_id,
            outbox_id,
            "done" if outcome.ok else f"refused ({outcome.note})",
        )


def build_router(
    handler: ActionHandler, *, signing_secret: Callable[[], str | None] | str | None, max_age_s: int = 300
) -> APIRouter:
    """Return an APIRouter (mount it at /slack/actions) that verifies, acknowledges, then handles clicks."""
    router = APIRouter()

    @router.post("", include_in_schema=False)
    @router.post("/", include_in_schema=False)
    async def slack_actions(request: Request, background: BackgroundTasks) -> Response:
        try:
            body = await read_capped(request)  # never more than the cap in memory, signed or not
        except BodyTooLarge as exc:
            log.warning("slack interactivity request refused: %s", exc)
            return Response("request body too large", status_code=413, media_type="text/plain")
        except BadBody as exc:
            return Response(f"bad request: {exc}", status_code=400, media_type="text/plain")
        secret = signing_secret() if callable(signing_secret) else signing_secret
        timestamp = request.headers.get("X-Slack-Request-Timestamp")
        signature = request.headers.get("X-Slack-Signature")
        now = handler.clock()
        try:
            verify_signature(secret or "", timestamp=timestamp, signature=signature, body=body, now=now,
                             max_age_s=max_age_s)
        except SignatureError as exc:
            log.warning("slack interactivity request refused: %s", exc)
            return Response("invalid request signature", status_code=401, media_type="text/plain")
        assert timestamp is not None and signature is not None
        if not first_use(handler.db, timestamp, signature, now=now, max_age_s=max_age_s):
            log.warning("slack interactivity request refused: the same signed request was already handled")
            return Response("replayed request refused", status_code=401, media_type="text/plain")
        try:
            payload = parse_form(body)
        except BadBody as exc:
            log.warning("slack interactivity request refused: %s", exc)
            return Response(f"bad request: {exc}", status_code=400, media_type="text/plain")
        # Slack wants an answer within 3 s: acknowledge now, do the work after the response is sent
        background.add_task(handler.handle_payload, payload)
        return Response(status_code=200)

    return router


def socket_mode_listener(handler: ActionHandler) -> Callable[[Any, Any], None]:
    """Return a `SocketModeClient` listener that acknowledges interactive envelopes, then handles them."""
    from slack_sdk.socket_mode.response import SocketModeResponse

    def listener(client: Any, request: Any) -> None:
        if request.type != "interactive":
            return
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        handler.handle_payload(request.payload)

    return listener
