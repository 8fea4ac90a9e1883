"""Slack delivery through the Web API (`slack_sdk`): post alerts, and find ones whose fate is unknown."""

from __future__ import annotations

import logging
from typing import Any, ClassVar
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from alerts.base import DeliveryError, Notifier
from alerts.slack_render import alert_blocks
from monitor.domain import Delivery

log = logging.getLogger(__name__)

#: Slack errors that no retry will fix; the row goes to "dead" with the error for a human to see.
PERMANENT_ERRORS = frozenset({"invalid_blocks", "msg_too_long", "invalid_arguments", "no_text",
                              "too_many_attachments", "invalid_metadata_format"})
METADATA_EVENT = "brandmon_alert"


class SlackNotifier(Notifier):
    """Post alert payloads to Slack channels with `chat.postMessage`."""

    kind: ClassVar[str] = "slack"

    def __init__(self, *, token: str | None, base_url: str = "https://slack.com/api/", timeout_s: int = 10) -> None:
        self._client = WebClient(token=token, base_url=base_url, timeout=timeout_s)
        self.base_url = base_url

    def redacted(self) -> dict[str, Any]:
        """Describe the notifier without its token."""
        return {"kind": self.kind, "base_url": self.base_url, "token": "set" if self._client.token else "unset"}

    def send(self, delivery: Delivery) -> dict[str, Any]:
        """Post one alert; its dedupe key rides along as message metadata so a resend can be detected."""
        text, blocks = alert_blocks(dict(delivery.payload))
        response = self._call(
            "chat_postMessage",
            channel=delivery.channel,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
            metadata={"event_type": METADATA_EVENT, "event_payload": {"dedupe_key": delivery.dedupe_key}},
        )
        return {"channel": response.get("channel"), "ts": response.get("ts")}

    def find_sent(self, delivery: Delivery) -> dict[str, Any] | None:
        """Search the channel's recent history for a message carrying this delivery's dedupe key."""
        cursor = None
        for _ in range(10):
            response = self._call("conversations_history", channel=delivery.channel, include_all_metadata=True,
                                  limit=200, cursor=cursor)
            for message in response.get("messages") or []:
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("dedupe_key") == delivery.dedupe_key:
                    return {"channel": response.get("channel") or delivery.channel, "ts": message.get("ts")}
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return None

    def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, method)(**kwargs)
        except SlackApiError as exc:
            response = exc.response
            error = str(response.get("error") or f"HTTP {response.status_code}")
            if response.status_code == 429:
                retry_after = float(response.headers.get("Retry-After", response.headers.get("retry-after", 30)))
                raise DeliveryError(f"Slack rate limited {method}", retry_after_s=retry_after) from None
            if response.status_code >= 500:
                raise DeliveryError(f"Slack {method} failed: HTTP {response.status_code}") from None
            raise DeliveryError(f"Slack {method} refused: {error}", permanent=error in PERMANENT_ERRORS) from None
        except (SlackClientError, URLError, OSError, TimeoutError) as exc:
            raise DeliveryError(f"Slack unreachable for {method}: {type(exc).__name__}: {exc}") from None
