"""A loopback server with the LibreTranslate HTTP API, for the translation tests.

It follows the published API (https://libretranslate.com/docs, and the server's own `libretranslate/app.py`) in
what brandmon uses: `GET /languages` answers `[{code, name, targets}]`; `POST /translate` takes JSON or a form
with `q` (a string or a list), `source` (a code or "auto"), `target`, `format` ("text" or "html"), `alternatives`
and `api_key`, checks them in the server's order and with its messages, and answers `{"translatedText": ...}`
(with `detectedLanguage` for "auto"). Every failure is `{"error": "..."}`: 400 for a missing parameter, a text
over the limit, an unsupported language or format, or a missing key; 403 for an invalid key; 429 ("Slowdown: ...")
past the request limit; 500 when the engine fails.

The engine is a glossary the test gives: (source, target) -> {text: translation}. A text it has no entry for
fails as an engine error does (500), so no test can pass on a translation nobody wrote.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: A few of the languages a LibreTranslate install serves, with the codes it uses (Chinese is zh-Hans).
DEFAULT_LANGUAGES = {"en": "English", "es": "Spanish", "fr": "French", "de": "German", "it": "Italian",
                     "pt": "Portuguese", "zh-Hans": "Chinese (Simplified)"}
MISSING_KEY = "Please contact the server operator to get an API key"


@dataclass
class Fault:
    """One canned failure answered instead of the next call to `path`."""

    status: int = 500
    error: str = "Cannot translate text: the engine failed"
    headers: dict[str, str] = field(default_factory=dict)
    path: str = "/translate"


class LibreTranslateLoopback:
    """Run a LibreTranslate-compatible API on 127.0.0.1 in a background thread."""

    def __init__(self, glossary: Mapping[tuple[str, str], Mapping[str, str]] | None = None, *,
                 languages: Mapping[str, str] | None = None, api_keys: set[str] | None = None,
                 require_api_key: bool = False, char_limit: int = -1, requests_per_minute: int = -1,
                 retry_after_header: bool = False) -> None:
        self.glossary = {pair: dict(texts) for pair, texts in (glossary or {}).items()}
        self.languages = dict(languages or DEFAULT_LANGUAGES)
        self.api_keys = api_keys
        self.require_api_key = require_api_key
        self.char_limit = char_limit
        self.requests_per_minute = requests_per_minute
        #: LibreTranslate's limiter sends no Retry-After by default; a proxy in front may add one.
        self.retry_after_header = retry_after_header
        self.faults: list[Fault] = []
        #: Every request: (method, path, parameters as sent).
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self._counted = 0
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.delay_s = 0.0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Return the base URL to set as `translation.url`."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    def translate_calls(self) -> list[dict[str, Any]]:
        """Return the parameters of every `POST /translate` received."""
        return [params for method, path, params in self.calls if method == "POST" and path == "/translate"]

    def start(self) -> LibreTranslateLoopback:
        """Start serving in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="libretranslate-loopback",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, releasing any request held by `delay_s`, and close the socket."""
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LibreTranslateLoopback:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def targets(self, code: str) -> list[str]:
        """Return the codes `code` translates into: every other language the server has."""
        return sorted(other for other in self.languages if other != code)

    # -- the API --------------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        """Answer one request as LibreTranslate does: (status, JSON body, extra headers)."""
        with self._lock:
            self.calls.append((method, path, dict(params)))
            fault = next((f for f in self.faults if f.path == path), None)
            if fault is not None:
                self.faults.remove(fault)
                return fault.status, {"error": fault.error}, fault.headers
        if method == "GET" and path == "/languages":
            return 200, [{"code": c, "name": n, "targets": self.targets(c)} for c, n in self.languages.items()], {}
        if method == "POST" and path == "/translate":
            return self._translate(params)
        return 404, {"error": "Not Found"}, {}

    @staticmethod
    def _error(status: int, message: str, headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        return status, {"error": message}, headers or {}

    def _translate(self, params: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        # the limiter runs before the route, then access_check: an invalid key, then a missing one where required
        with self._lock:
            self._counted += 1
            over = 0 <= self.requests_per_minute < self._counted
        if over:
            headers = {"Retry-After": "30"} if self.retry_after_header else {}
            return self._error(429, f"Slowdown: {self.requests_per_minute} per 1 minute", headers)
        key = params.get("api_key")
        if self.api_keys is not None:
            if key and key not in self.api_keys:
                return self._error(403, "Invalid API key")
            if not key and self.require_api_key:
                return self._error(400, MISSING_KEY)
        q, source, target = params.get("q"), params.get("source"), params.get("target")
        for name, value in (("q", q), ("source", source), ("target", target)):
            if not value:
                return self._error(400, f"Invalid request: missing {name} parameter")
        texts = q if isinstance(q, list) else [q]
        if self.char_limit != -1:
            for text in texts:
                if len(text) > self.char_limit:
                    return self._error(400, f"Invalid request: request ({len(text)}) exceeds text limit "
                                            f"({self.char_limit})")
        detected = self._detect(texts) if source == "auto" else {"confidence": 100.0, "language": source}
        if detected["language"] not in self.languages:
            return self._error(400, f"{source} is not supported")
        if target not in self.languages:
            return self._error(400, f"{target} is not supported")
        text_format = params.get("format") or "text"
        if text_format not in ("text", "html"):
            return self._error(400, f"{text_format} format is not supported")
        src = detected["language"]
        if target not in self.targets(src):
            return self._error(400, f"{self.languages[target]} ({target}) is not available as a target language "
                                    f"from {self.languages[src]} ({src})")
        if self.delay_s:
            self._release.wait(self.delay_s)
        entries = self.glossary.get((src, target), {})
        missing = [text for text in texts if text not in entries]
        if missing:
            return self._error(500, f"Cannot translate text: no {src}->{target} translation of {missing[0]!r}")
        translated: Any = [entries[t] for t in texts] if isinstance(q, list) else entries[q]
        body: dict[str, Any] = {"translatedText": translated}
        if source == "auto":
            body["detectedLanguage"] = [detected] * len(texts) if isinstance(q, list) else detected
        if int(params.get("alternatives") or 0) > 0:
            body["alternatives"] = [[] for _ in texts] if isinstance(q, list) else []
        return 200, body, {}

    def _detect(self, texts: list[str]) -> dict[str, Any]:
        """Detect as the glossary knows: the source language of the first text it has an entry for."""
        for (src, _), entries in self.glossary.items():
            if any(text in entries for text in texts):
                return {"confidence": 90.0, "language": src}
        return {"confidence": 0.0, "language": "en"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        loopback = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8") if length else ""
                params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                if "json" in (self.headers.get("Content-Type") or ""):
                    try:
                        body = json.loads(raw or "null")
                    except ValueError:
                        body = None
                    if not isinstance(body, dict):
                        self._send(400, {"error": "Invalid JSON format"}, {})
                        return
                    params.update(body)
                elif raw:
                    # a form: line endings normalised to LF, as the server does before its limits
                    params.update({k: "\n".join(v[-1].splitlines()) for k, v in parse_qs(raw).items()})
                self._send(*loopback.handle(method, parts.path, params))

            def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
