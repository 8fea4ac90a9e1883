"""A loopback server that speaks the Slack Web API's request and response shapes.

It stands in for Slack in the demo (printing each message as Slack would show it) and in tests (recording
calls, answering 429 with Retry-After, `ok: false` errors, or going down). Like Slack, it answers
chat.postMessage with the channel's id, wants that id (not "#name") for chat.update and the conversations
methods, keeps thread replies out of the channel history, and refuses blocks past Slack's documented limits.
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
from urllib.parse import parse_qs, urlsplit

from core.textsafe import for_terminal

_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]*)>")
_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")
_USER = re.compile(r"<@([UW][A-Z0-9]+)>")
_JSON_ARGS = ("blocks", "metadata", "attachments")


def as_slack_shows(mrkdwn: str) -> str:
    """Render Slack mrkdwn as the reader sees it: links as label (url), entities unescaped."""
    text = _DATE.sub(r"\1", mrkdwn)
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    text = _USER.sub(r"@\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _element_label(element: dict[str, Any]) -> str:
    if element.get("type") == "static_select":
        return str(element.get("placeholder", {}).get("text", "menu")) + " ▾"
    return str(element.get("text", {}).get("text", element.get("type", "?")))


def message_as_text(message: dict[str, Any]) -> str:
    """Flatten a message's blocks into the lines a Slack client would display (thread replies indented)."""
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
            lines.append("  [" + "] [".join(_element_label(e) for e in block.get("elements", [])) + "]")
    if not lines:
        lines.append(as_slack_shows(str(message.get("text") or "")))
    text = "\n".join(lines)
    if message.get("thread_ts") and message.get("thread_ts") != message.get("ts"):
        text = "  ↳ in thread: " + text.replace("\n", "\n    ")
    return for_terminal(text, keep_newlines=True)


def _menu_problems(element: dict[str, Any]) -> list[str]:
    """Return where a static_select breaks Slack's limits (`alerts.slack_menu` lists them)."""
    if element.get("type") != "static_select":
        return []
    options, groups = element.get("options"), element.get("option_groups")
    if (options is None) == (groups is None):
        return ["needs options or option_groups, not both"]
    problems = [] if 0 < len(options or groups or []) <= 100 else ["needs 1 to 100 options or option groups"]
    for group in groups or [{"label": {"text": ""}, "options": options}]:
        listed = group.get("options") or []
        if len(group["label"]["text"]) > 75 or not 0 < len(listed) <= 100:
            problems.append("an option group's label is over 75 characters or it has not 1 to 100 options")
        problems.extend(f"option {o.get('value')!r}: text over 75 or value over 150 characters" for o in listed
                        if len(o["text"]["text"]) > 75 or len(str(o.get("value", ""))) > 150)
    return problems


def block_problems(blocks: Any) -> list[str]:
    """Return where blocks break Slack's documented limits (empty when Slack would accept them)."""
    if blocks is None:
        return []
    if not isinstance(blocks, list) or len(blocks) > 50:
        return ["blocks must be a list of at most 50"]
    problems = []
    for i, block in enumerate(blocks):
        text = (block.get("text") or {}).get("text")
        if block.get("type") == "section" and text is not None and not 0 < len(text) <= 3000:
            problems.append(f"blocks[{i}].text: {len(text)} characters (1-3000)")
        for j, item in enumerate(block.get("fields") or []):
            if len(item.get("text", "")) > 2000 or j >= 10:
                problems.append(f"blocks[{i}].fields[{j}] too long or too many")
        for j, element in enumerate(block.get("elements") or []):
            label = (element.get("text") or {}).get("text") if isinstance(element.get("text"), dict) else None
            if block.get("type") == "actions" and label is not None and len(label) > 75:
                problems.append(f"blocks[{i}].elements[{j}].text over 75 characters")
            if len(str(element.get("value", ""))) > 2000 or len(str(element.get("url", ""))) > 3000:
                problems.append(f"blocks[{i}].elements[{j}] value or url too long")
            if block.get("type") == "context" and len(str(element.get("text", ""))) > 3000:
                problems.append(f"blocks[{i}].elements[{j}].text over 3000 characters")
            problems.extend(f"blocks[{i}].elements[{j}]: {problem}" for problem in _menu_problems(element))
    return problems


@dataclass
class Fault:
    """One canned failure answered instead of the real call."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=lambda: {"ok": False, "error": "internal_error"})
    headers: dict[str, str] = field(default_factory=dict)
    #: Only calls to this method get the fault (any method when None).
    method: str | None = None


class SlackLoopback:
    """Run a Slack-compatible Web API on 127.0.0.1 in a background thread."""

    def __init__(self, *, on_message: Callable[[str, dict[str, Any]], None] | None = None, port: int = 0) -> None:
        #: Messages by channel name as first posted to (or id), thread replies included, oldest first.
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.faults: list[Fault] = []
        self.on_message = on_message
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._channel_ids: dict[str, str] = {}
        self._names: dict[str, str] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Return the Web API base URL to hand to `slack_sdk.WebClient(base_url=...)`."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/api/"

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
        """Return every message posted (thread replies included), in order."""
        with self._lock:
            return sorted((m for ms in self.messages.values() for m in ms), key=lambda m: float(m["ts"]))

    def top_level(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Return the messages shown in channels (not in threads), in order."""
        return [
            m
            for m in self.all_messages()
            if not m.get("thread_ts") and (channel is None or m["channel_name"] == channel)
        ]

    def thread(self, ts: str) -> list[dict[str, Any]]:
        """Return the replies in the thread of message `ts`, in order."""
        return [m for m in self.all_messages() if m.get("thread_ts") == ts]

    def channel_id(self, name: str) -> str:
        """Return the id Slack gave a channel (creating it as Slack would on first use)."""
        with self._lock:
            return self._resolve(name, create=True) or ""

    def _resolve(self, channel: str, *, create: bool) -> str | None:
        if channel in self._names:
            return channel
        if channel in self._channel_ids:
            return self._channel_ids[channel]
        if not create:
            return None
        channel_id = f"C{next(self._ids):08d}"
        self._channel_ids[channel] = channel_id
        self._names[channel_id] = channel
        return channel_id

    # -- the API ----------------------------------------------------------------------------------------
    def handle(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one Web API call: (HTTP status, JSON body, extra headers)."""
        with self._lock:
            self.calls.append((method, args))
            for i, fault in enumerate(self.faults):
                if fault.method in (None, method):
                    del self.faults[i]
                    return fault.status, fault.body, fault.headers
            if method == "auth.test":
                return 200, {"ok": True, "team": "loopback", "user": "brandmon", "bot_id": "B0LOOPBACK"}, {}
            if method == "conversations.list":
                channels = [
                    {"id": cid, "name": name.lstrip("#"), "is_channel": True} for cid, name in self._names.items()
                ]
                return 200, {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}, {}
            channel = str(args.get("channel") or "")
            # chat.postMessage takes a name or an id; the others want the id, as Slack does
            channel_id = self._resolve(channel, create=method == "chat.postMessage") if channel else None
            if method != "chat.postMessage" and channel not in self._names:
                channel_id = None
            if channel_id is None:
                return 200, {"ok": False, "error": "channel_not_found"}, {}
            name = self._names[channel_id]
            if method in ("chat.postMessage", "chat.update"):
                problems = block_problems(args.get("blocks"))
                if problems:
                    return 200, {"ok": False, "error": "invalid_blocks", "errors": problems}, {}
            if method == "chat.postMessage":
                return self._post(channel_id, name, args)
            if method == "chat.update":
                return self._update(channel_id, name, args)
            if method == "conversations.history":
                history = [m for m in reversed(self.messages.get(name, [])) if not m.get("thread_ts")]
                if args.get("latest"):
                    inclusive = str(args.get("inclusive")).lower() in ("1", "true")
                    latest = float(args["latest"])
                    history = [
                        m for m in history if float(m["ts"]) < latest or (inclusive and float(m["ts"]) == latest)
                    ]
                history = history[: int(args.get("limit") or 100)]
                return (
                    200,
                    {
                        "ok": True,
                        "channel": channel_id,
                        "messages": history,
                        "has_more": False,
                        "response_metadata": {"next_cursor": ""},
                    },
                    {},
                )
            if method == "conversations.replies":
                thread = [
                    m
                    for m in self.messages.get(name, [])
                    if m["ts"] == args.get("ts") or m.get("thread_ts") == args.get("ts")
                ]
                if not thread:
                    return 200, {"ok": False, "error": "thread_not_found"}, {}
                return (
                    200,
                    {"ok": True, "messages": thread, "has_more": False, "response_metadata": {"next_cursor": ""}},
                    {},
                )
            return 404, {"ok": False, "error": "unknown_method"}, {}

    def _post(self, channel_id: str, name: str, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        message = {
            "ts": ts,
            "channel": channel_id,
            "channel_name": name,
            **{k: v for k, v in args.items() if k != "channel"},
        }
        thread_ts = args.get("thread_ts")
        if thread_ts:
            parent = next((m for m in self.messages.get(name, []) if m["ts"] == thread_ts), None)
            if parent is None:
                return 200, {"ok": False, "error": "thread_not_found"}, {}
            parent["reply_count"] = int(parent.get("reply_count") or 0) + 1
        self.messages.setdefault(name, []).append(message)
        if self.on_message:
            self.on_message(name, message)
        return 200, {"ok": True, "channel": channel_id, "ts": ts, "message": message}, {}

    def _update(self, channel_id: str, name: str, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        for message in self.messages.get(name, []):
            if message["ts"] == args.get("ts"):
                message.update({k: v for k, v in args.items() if k not in ("channel", "ts")})
                message["edited"] = True
                if self.on_message:
                    self.on_message(name, message)
                return 200, {"ok": True, "channel": channel_id, "ts": message["ts"]}, {}
        return 200, {"ok": False, "error": "message_not_found"}, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        loopback = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8")
                if "json" in (self.headers.get("Content-Type") or ""):
                    args = json.loads(raw or "{}")
                else:
                    args = {k: v[-1] for k, v in parse_qs(raw).items()}
                parts = urlsplit(self.path)
                args.update({k: v[-1] for k, v in parse_qs(parts.query).items()})
                for key in _JSON_ARGS:
                    if isinstance(args.get(key), str):
                        args[key] = json.loads(args[key])
                method = parts.path.rsplit("/", 1)[-1]
                status, body, headers = loopback.handle(method, args)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST  # noqa: N815 - slack_sdk reads the conversations methods with GET

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
