"""Helpers for the web tests: a seeded app, logins, and uvicorn serving it on a loopback port in a thread."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI

from core.settings import Secrets, Settings
from core.storage import Database
from monitor.web import create_app
from monitor.web.auth import add_user
from tests.support.queue import NOW, Labels, PostingSource, post, seed
from tests.support.settings import make_settings

PASSWORD = "correct horse battery"
SCRIPT_POST = "<script>window.__pwned = 1</script> kestrel took my money <b>twice</b>"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class WebSetup:
    """A seeded database and the app over it."""

    db: Database
    settings: Settings
    app: FastAPI
    source: PostingSource
    items: dict[str, int]
    mentions: dict[str, int]


def web_setup(db: Database) -> WebSetup:
    """Seed three posts (one carrying markup), two users and an app posting replies through a test source."""
    settings = make_settings(queue={"lease_min": 30, "breach_warning_min": 15, "saved_replies": [
        {"name": "outage", "text": "Hi {first_name}, sorry: engineers are on it. – {brand}", "kind": "respond"}]})
    seeded = seed(db, settings, [
        post("100", SCRIPT_POST, handle="mallory", name='Mal "><img src=x onerror=alert(1)>', conversation_id="100",
             minutes_ago=20),
        post("200", "@KestrelMobile no signal in Leeds since 9", handle="jo_bloggs", minutes_ago=10, addressed=True),
        post("300", "kestrel is great, thanks for the upgrade!", handle="fan", minutes_ago=5),
    ], {"300": Labels(sentiment="positive", complaint=False, urgency_score=0.0, urgency_category="none", level="low")})
    add_user(db, "ana", PASSWORD, role="responder")
    add_user(db, "root", PASSWORD, role="admin")
    source = PostingSource()
    app = create_app(settings, db, sources={source.name: source}, clock=lambda: NOW,
                     secrets_=Secrets.model_validate({"web_session_secret": "test-only-session-key"}))
    items = {key: item for key, (_, item) in seeded.items() if item is not None}
    return WebSetup(db, settings, app, source, items, {key: mention for key, (mention, _) in seeded.items()})


def csrf_of(html: str) -> str:
    """Return the CSRF token a page's forms carry."""
    match = _CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client: Any, username: str, password: str = PASSWORD) -> Any:
    """Log a TestClient in through the form; return the response after the redirect."""
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_of(page.text),
                                       "next": "/"})


def seed_follow_up(setup: WebSetup, text: str = "@KestrelMobile hello?? still waiting") -> None:
    """Store a new post in the thread of item "100" (as a poll would while a responder is reading)."""
    seed(setup.db, setup.settings, [post("101", text, handle="mallory", conversation_id="100", parent_id="100",
                                         minutes_ago=1)])


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port in a thread; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # listening before the thread starts, so the first request simply waits in the backlog
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


__all__ = ["NOW", "PASSWORD", "SCRIPT_POST", "WebSetup", "csrf_of", "live_server", "login", "seed_follow_up",
           "web_setup"]
