"""Slack delivery through the Web API (`slack_sdk`): post, reply in threads, edit, find sends of unknown fate."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from alerts.base import DeliveryError, Notifier
from core.domain import Delivery
from core.registry import load_entry

log = logging.getLogger(__name__)

#: Slack errors that no retry will fix; the row goes to "dead" with the error for a human to see.
#: Errors a person fixes outside brandmon (a token, inviting the bot) are retried with backoff instead, and
#: `brandmon alerts retry` sends dead rows again once the cause is fixed.
PERMANENT_ERRORS = frozenset(
    {
        "invalid_blocks",
        "msg_too_long",
        "invalid_arguments",
        "no_text",
        "too_many_attachments",
        "invalid_metadata_format",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "is_archived",
    }
)
METADATA_EVENT = "brandmon_alert"
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
#: payload["type"] -> "module:function" returning (fallback text, blocks). Imported on first use.
RENDERERS: dict[str, str] = {
    "alert": "alerts.slack_render:alert_blocks",
    "incident": "alerts.slack_render:incident_blocks",
    "security": "alerts.slack_security:security_blocks",
    "spike": "alerts.slack_spike:spike_blocks",
    "digest": "alerts.slack_digest:summary_blocks",
    "batch": "alerts.slack_batch:batch_blocks",
}
Renderer = Callable[[dict[str, Any]], tuple[str, list[dict[str, Any]]]]


def renderer(kind: str) -> Renderer:
    """Import and return the renderer registered for a payload type."""
    if kind not in RENDERERS:  # an unknown payload type can never render: the row goes to "dead" at once
        known = ", ".join(sorted(RENDERERS))
        raise DeliveryError(f"no Slack renderer for payload type {kind!r}; known: {known}", permanent=True)
    # a renderer that cannot be imported yet keeps its row for a later attempt
    found: Renderer = load_entry(RENDERERS, kind, what="Slack renderer", error=DeliveryError)
    return found


def render(payload: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Render a payload with the renderer its type names ("alert" when it names none)."""
    return renderer(str(payload.get("type", "alert")))(dict(payload))


class SlackNotifier(Notifier):
    """Post alert payloads to Slack: chat.postMessage (in a thread when they follow one), chat.update on edits."""

    kind: ClassVar[str] = "slack"

    def __init__(self, *, token: str | None, base_url: str = "https://slack.com/api/", timeout_s: int = 10) -> None:
        # no retries (or their sleeps) inside the client: the outbox owns the one retry policy
        self._client = WebClient(token=token, base_url=base_url, timeout=timeout_s, retry_handlers=[])
        self.base_url = base_url
        #: "#name" -> channel id, learned from Slack's answers; the conversations methods want the id.
        self._channel_ids: dict[str, str] = {}

    def redacted(self) -> dict[str, Any]:
        """Describe the notifier without its token."""
        return {"kind": self.kind, "base_url": self.base_url, "token": "set" if self._client.token else "unset"}

    def send(self, delivery: Delivery) -> dict[str, Any]:
        """Post (or edit) one message; its dedupe key rides along as metadata so a resend can be detected."""
        payload = {**delivery.payload, "_outbox_id": delivery.id}
        text, blocks = render(payload)
        metadata = {
            "event_type": METADATA_EVENT,
            "event_payload": {"dedupe_key": delivery.dedupe_key, "rev": int(payload.get("rev") or 0)},
        }
        previous = payload.get("_previous")
        if previous:
            response = self._call(
                "chat_update",
                channel=previous["channel"],
                ts=previous["ts"],
                text=text,
                blocks=blocks,
                metadata=metadata,
            )
            return {
                "channel": response.get("channel") or previous["channel"],
                "ts": response.get("ts") or previous["ts"],
            }
        parent = payload.get("_parent")
        extra: dict[str, Any] = {"thread_ts": parent["ts"]} if parent else {}
        response = self._call(
            "chat_postMessage",
            channel=parent["channel"] if parent else delivery.channel,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
            link_names=False,
            parse="none",
            metadata=metadata,
            **extra,
        )
        result = {"channel": response.get("channel"), "ts": response.get("ts")}
        if not parent and response.get("channel"):
            self._channel_ids["#" + delivery.channel.lstrip("#")] = str(response["channel"])
        if parent:
            result["thread_ts"] = parent["ts"]
        return result

    def find_sent(self, delivery: Delivery) -> dict[str, Any] | None:
        """Search the channel (or the thread it follows) for a message carrying this delivery's dedupe key.

        For an edit, look at the message itself: it counts as sent when it carries this revision.
        """
        previous = delivery.payload.get("_previous")
        if previous:
            return previous if self._revision_shown(previous, delivery) else None
        parent = delivery.payload.get("_parent")
        cursor = None
        for _ in range(10):
            if parent:
                response = self._call(
                    "conversations_replies",
                    channel=parent["channel"],
                    ts=parent["ts"],
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            else:
                channel_id = self.channel_id(delivery.channel)
                if channel_id is None:
                    return None  # no such channel visible to the bot: nothing can have arrived there
                response = self._call(
                    "conversations_history", channel=channel_id, include_all_metadata=True, limit=200, cursor=cursor
                )
            for message in response.get("messages") or []:
                found = (message.get("metadata") or {}).get("event_payload") or {}
                if found.get("dedupe_key") == delivery.dedupe_key:
                    channel = parent["channel"] if parent else (response.get("channel") or delivery.channel)
                    return {"channel": channel, "ts": message.get("ts")}
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return None

    def _revision_shown(self, previous: Mapping[str, Any], delivery: Delivery) -> bool:
        if previous.get("thread_ts"):
            response = self._call(
                "conversations_replies",
                channel=previous["channel"],
                ts=previous["thread_ts"],
                include_all_metadata=True,
                limit=1000,
            )
        else:
            response = self._call(
                "conversations_history",
                channel=previous["channel"],
                latest=previous["ts"],
                inclusive=True,
                include_all_metadata=True,
                limit=1,
            )
        for message in response.get("messages") or []:
            if message.get("ts") == previous["ts"]:
                shown = (message.get("metadata") or {}).get("event_payload") or {}
                return bool(
                    shown.get("dedupe_key") == delivery.dedupe_key
                    and int(shown.get("rev") or 0) == int(delivery.payload.get("rev") or 0)
                )
        return False

    def channel_id(self, channel: str) -> str | None:
        """Return the id of a channel given as an id or "#name" (looked up with conversations.list once)."""
        if _CHANNEL_ID.match(channel):
            return channel
        name = "#" + channel.lstrip("#")
        if name not in self._channel_ids:
            cursor = None
            for _ in range(50):
                response = self._call(
                    "conversations_list",
                    types="public_channel,private_channel",
                    exclude_archived=True,
                    limit=1000,
                    cursor=cursor,
                )
                for found in response.get("channels") or []:
                    self._channel_ids.setdefault("#" + str(found.get("name")), str(found.get("id")))
                cursor = (response.get("response_metadata") or {}).get("next_cursor")
                if not cursor or name in self._channel_ids:
                    break
        return self._channel_ids.get(name)

    def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, method)(**kwargs)
        except SlackApiError as exc:
            response = exc.response
            error = str(response.get("error") or f"HTTP {response.status_code}")
            if response.status_code == 429:
                headers = {k.lower(): v for k, v in (response.headers or {}).items()}
                value = headers.get("retry-after")
                retry_after = float(value[0] if isinstance(value, list) else value) if value else 30.0
                raise DeliveryError(
                    f"Slack rate limited {method}; retry after {retry_after:.0f}s", retry_after_s=retry_after
                ) from None
            if response.status_code >= 500:
                raise DeliveryError(f"Slack {method} failed: HTTP {response.status_code} {error}") from None
            if error == "ratelimited":
                raise DeliveryError(f"Slack rate limited {method}", retry_after_s=30.0) from None
            raise DeliveryError(f"Slack {method} refused: {error}", permanent=error in PERMANENT_ERRORS) from None
        except (SlackClientError, URLError, OSError, TimeoutError) as exc:
            raise DeliveryError(f"Slack unreachable for {method}: {type(exc).__name__}: {exc}") from None
