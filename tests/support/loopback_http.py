"""A loopback HTTP server that answers each request through a function of an `httpx.Request`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

#: What the server does with a request: answer it, or (None) drop the connection without an answer.
Handler = Callable[[httpx.Request], httpx.Response | None]
#: Headers this server writes itself (send_response adds Date and Server), so recorded ones are not sent twice.
_OWN_HEADERS = {"content-length", "transfer-encoding", "connection", "content-encoding", "date", "server"}


class LoopbackHttp:
    """Serve `handler` on a loopback port; what a handler raises is kept in `errors` and answered with a 500."""

    def __init__(self, handler: Handler) -> None:
        self.errors: list[str] = []
        owner = self

        class Serve(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = httpx.Request(self.command, f"{owner.base_url}{self.path}",
                                        headers=dict(self.headers.items()), content=body)
                try:
                    response = handler(request)
                except Exception as exc:  # a failed check must fail the test, not vanish in the server thread
                    owner.errors.append(f"{self.command} {self.path}: {type(exc).__name__}: {exc}")
                    response = httpx.Response(500, json={"error": "the loopback network's check failed"})
                if response is None:
                    self.close_connection = True  # the connection drops: the client never gets an answer
                    return
                data = response.content
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in _OWN_HEADERS:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Serve)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """Return http://127.0.0.1:port (no trailing slash)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> LoopbackHttp:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
