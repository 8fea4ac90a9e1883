"""A loopback server that speaks the Slack Web API's request and response shapes.

It stands in for Slack in the demo (printing each message as Slack would show it) and in tests (recording
calls, answering 429 with Retry-After, `ok: false` errors, or going down).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from monitor.textsafe import for_terminal

_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]*)>")
_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")


def as_slack_shows(mrkdwn: str) -> str:
    """Render Slack mrkdwn as the reader sees it: links as label (url), entities unescaped."""
    text = _DATE.sub(r"\1", mrkdwn)
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def message_as_text(message: dict[str, Any]) -> str:
    """Flatten a message's blocks into the lines a Slack client would display."""
    lines: list[str] = []
    for block in message.get("blocks") or []:
        if block.get("type") == "section":
            if block.get("text"):
                lines.append(as_slack_shows(block["text"]["text"]))
            for item in block.get("fields") or []:
                lines.append("  " + as_slack_shows(item["text"]).replace("\n", ": ", 1))
        elif block.get("type") == "context":
            lines.append("  " + " ".join(as_slack_shows(e.get("text", "")) for e in block.get("elements", [])))
        elif block.get("type") == "actions":
            lines.append("  [" + "] [".join(e["text"]["text"] for e in block.get("elements", [])) + "]")
    if not lines:
        lines.append(as_slack_shows(str(message.get("text") or "")))
    return for_terminal("\n".join(lines), keep_newlines=True)


@dataclass
class Fault:
    """One canned failure answered instead of the real call."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=lambda: {"ok": False, "error": "internal_error"})
    headers: dict[str, str] = field(default_factory=dict)


class SlackLoopback:
    """Run a Slack-compatible Web API on 127.0.0.1 in a background thread."""

    def __init__(self, *, on_message: Callable[[str, dict[str, Any]], None] | None = None, port: int = 0) -> None:
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.faults: list[Fault] = []
        self.on_message = on_message
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Return the Web API base URL to hand to `slack_sdk.WebClient(base_url=...)`."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/"

    def start(self) -> SlackLoopback:
        """Start serving in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-loopback", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SlackLoopback:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def all_messages(self) -> list[dict[str, Any]]:
        """Return every message posted, in order."""
        with self._lock:
            return sorted((m for ms in self.messages.values() for m in ms), key=lambda m: float(m["ts"]))

    # -- the API ----------------------------------------------------------------------------------------
    def handle(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one Web API call: (HTTP status, JSON body, extra headers)."""
        with self._lock:
            self.calls.append((method, args))
            if self.faults:
                fault = self.faults.pop(0)
                return fault.status, fault.body, fault.headers
            if method == "auth.test":
                return 200, {"ok": True, "team": "loopback", "user": "brandmon", "bot_id": "B0LOOPBACK"}, {}
            channel = str(args.get("channel") or "")
            if method in ("chat.postMessage", "chat.update", "conversations.history", "conversations.replies") and not channel:
                return 200, {"ok": False, "error": "channel_not_found"}, {}
            if method == "chat.postMessage":
                ts = f"{int(time.time())}.{next(self._ts):06d}"
                message = {"ts": ts, "channel": channel, **{k: v for k, v in args.items() if k != "channel"}}
                self.messages.setdefault(channel, []).append(message)
                if self.on_message:
                    self.on_message(channel, message)
                return 200, {"ok": True, "channel": channel, "ts": ts, "message": message}, {}
            if method == "chat.update":
                for message in self.messages.get(channel, []):
                    if message["ts"] == args.get("ts"):
                        message.update({k: v for k, v in args.items() if k not in ("channel", "ts")})
                        message["edited"] = True
                        if self.on_message:
                            self.on_message(channel, message)
                        return 200, {"ok": True, "channel": channel, "ts": message["ts"]}, {}
                return 200, {"ok": False, "error": "message_not_found"}, {}
            if method == "conversations.history":
                history = list(reversed(self.messages.get(channel, [])))
                return 200, {"ok": True, "channel": channel, "messages": history, "has_more": False,
                             "response_metadata": {"next_cursor": ""}}, {}
            if method == "conversations.replies":
                thread = [m for m in self.messages.get(channel, []) if m.get("thread_ts") == args.get("ts")]
                return 200, {"ok": True, "messages": thread, "has_more": False}, {}
            return 404, {"ok": False, "error": "unknown_method"}, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        loopback = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                if "json" in (self.headers.get("Content-Type") or ""):
                    args = json.loads(raw or "{}")
                else:
                    args = {k: v[-1] for k, v in parse_qs(raw).items()}
                for key in ("blocks", "metadata", "attachments"):
                    if isinstance(args.get(key), str):
                        args[key] = json.loads(args[key])
                method = self.path.rsplit("/", 1)[-1].split("?", 1)[0]
                status, body, headers = loopback.handle(method, args)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST  # noqa: N815 - slack_sdk uses POST, but GET is accepted like Slack does

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence per-request logs
                return

        return Handler
