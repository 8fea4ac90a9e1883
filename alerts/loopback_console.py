"""`slack.base_url: loopback`: a loopback Slack inside `brandmon run`/`serve` that prints what Slack would show.

Each message (new, thread reply or edit) is printed as a Slack client would display it and appended, as one JSON
line, to `slack.loopback_log`, which `brandmon alerts log` reads back. A team can watch the alerts its own data
would send before it connects a workspace.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alerts.slack_loopback import SlackLoopback, message_as_text
from core.textsafe import for_terminal

LOOPBACK = "loopback"


def describe(channel: str, message: dict[str, Any]) -> str:
    """Return a message as the lines a terminal shows: a header naming the channel and kind, then the message."""
    if message.get("edited"):
        verb = "message updated"
    elif message.get("thread_ts"):
        verb = "reply in an incident thread"
    else:
        verb = "new message"
    return f"── Slack {for_terminal(channel)} ({verb}) " + "─" * 30 + "\n" + message_as_text(message)


class ConsoleSlack:
    """A started loopback Slack that prints each message with `echo` and keeps it in `log_path` (JSON Lines)."""

    def __init__(self, log_path: Path, echo: Callable[[str], None]) -> None:
        self.log_path = log_path
        self.echo = echo
        self._lock = threading.Lock()
        self.server = SlackLoopback(on_message=self._on_message).start()

    @property
    def base_url(self) -> str:
        """Return the Web API URL the Slack channel should call."""
        return self.server.base_url

    def _on_message(self, channel: str, message: dict[str, Any]) -> None:
        record = {"at": datetime.now(UTC).isoformat(), "channel": channel, "message": message}
        with self._lock:
            self.echo(describe(channel, message))
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")

    def stop(self) -> None:
        """Stop the server."""
        self.server.stop()


def read_log(log_path: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Yield (time, channel, message) for each message kept in `log_path`, oldest first; skip damaged lines."""
    if not log_path.is_file():
        return
    with log_path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
                yield str(record["at"]), str(record["channel"]), dict(record["message"])
            except (ValueError, KeyError, TypeError):
                continue


__all__ = ["LOOPBACK", "ConsoleSlack", "describe", "read_log"]
