"""Fault drill: X and Slack answering 429, 500, a timeout and malformed JSON; nothing lost, nothing sent twice.

Both networks are real loopback HTTP servers that answer canned faults first: the X source's requests are
routed to one by a transport adapter (tweepy's host is fixed), Slack's through a front that forwards to the
loopback Slack once its faults are used up. Timeouts are the clients' own socket timeouts; the clock that
decides backoffs and retries is moved by hand.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from requests.adapters import HTTPAdapter
from sqlalchemy import select

from alerts.slack_loopback import SlackLoopback
from core.storage import Database
from core.storage.schema import MentionRow, SourceStateRow
from sources.x import XSource
from tests.support.clock import Clock
from tests.support.drills import (
    Canned,
    FaultyServer,
    make_pipeline,
    outbox_keys,
    settings_for,
    slack_keys,
    table_counts,
)
from tests.support.sources import snowflake, x_page, x_post, x_secrets, x_user

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALICE = x_user("2001", "alice_w", followers=52_000)
BOB = x_user("2002", "bob_r")
JSON = {"content-type": "application/json; charset=utf-8"}


class ToLoopback(HTTPAdapter):
    """Send X requests to a loopback server instead, with a short socket timeout."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        super().__init__()
        self.base_url = base_url
        self.timeout_s = timeout_s

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        request.url = request.url.replace("https://api.twitter.com", self.base_url, 1)
        kwargs["timeout"] = self.timeout_s
        return super().send(request, **kwargs)


def x_source(clock: Clock, base_url: str) -> XSource:
    source = XSource(name="kestrel-x", brand="Kestrel Mobile", options={"kinds": ["search"]},
                     query='"kestrel mobile" OR kestrel OR @KestrelMobile', secrets=x_secrets(), clock=clock)
    source.client.session.mount("https://api.twitter.com", ToLoopback(base_url, 0.4))
    return source


def body(data: Any) -> bytes:
    return json.dumps(data).encode()


def test_x_and_slack_faults_lose_nothing_and_send_nothing_twice(db: Database, tmp_path: Path) -> None:
    clock = Clock(NOW)
    posts = [x_post(snowflake(NOW - timedelta(hours=2), n), f"@KestrelMobile charged twice again, refund please {n}",
                    ALICE) for n in range(4)]
    later = [x_post(snowflake(NOW + timedelta(hours=4), n), f"kestrel mobile no signal all day, outage? {n}", BOB)
             for n in range(3)]
    problem = {"title": "Service Unavailable", "detail": "try later", "type": "about:blank", "status": 503}
    limited = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
    reset = int((NOW + timedelta(minutes=30)).timestamp())
    with FaultyServer() as x, SlackLoopback() as slack, \
            FaultyServer(upstream=slack.base_url.removesuffix("/api/")) as slack_front:
        x.queue += [
            Canned(503, body(problem), JSON),
            Canned(429, body(limited), {**JSON, "x-rate-limit-reset": str(reset)}),
            Canned(200, b'{"data": [{"id": "1", "text": ', JSON),  # cut off mid-object
            Canned(hang=True),
            Canned(200, body(x_page(posts, [ALICE])), JSON),
            # the next page repeats two posts already stored, as overlapping windows do
            Canned(200, body(x_page(later + posts[:2], [ALICE, BOB])), JSON),
        ]
        slack_front.queue += [
            Canned(429, b'{"ok": false, "error": "ratelimited"}', {**JSON, "Retry-After": "30"}),
            Canned(500, b'{"ok": false, "error": "internal_error"}', JSON),
            Canned(200, b"<html>upstream proxy error</html>", {"content-type": "application/json"}),
            Canned(hang=True),
            # Slack posts the message but the answer never comes back: the retry must not post it again
            Canned(hang=True, forward=True),
        ]
        settings = settings_for(str(db.url.render_as_string(hide_password=False)), [],
                                slack_url=slack_front.base_url + "/api/")
        pipeline = make_pipeline(db, settings, clock, slack_url=slack_front.base_url + "/api/",
                                 sources={"kestrel-x": x_source(clock, x.base_url)})
        pipeline.deliverer.notifiers["slack"]._client.timeout = 0.4  # type: ignore[attr-defined]

        errors = []
        for _ in range(6):
            outcome = pipeline.poll("kestrel-x")
            errors.append(outcome.error or "")
            pipeline.downstream()
            clock.advance(hours=1)
        assert len(x.requests) == 6, "every queued X answer was asked for"
        for _ in range(40):  # four simulated hours of delivery ticks
            pipeline.classify()
            pipeline.route()
            pipeline.deliver()
            clock.advance(minutes=6)

    assert "503" in errors[0] and "rate limited" in errors[1]
    assert "not JSON" in errors[2] and "Timeout" in errors[3]
    assert errors[4:] == ["", ""]
    counts = table_counts(db)
    expected = {p["id"] for p in posts + later}
    with db.session() as session:
        stored = session.execute(select(MentionRow.external_id)).scalars().all()
        state = session.get(SourceStateRow, "kestrel-x")
    assert sorted(stored) == sorted(expected), "a post was lost or stored twice"
    assert counts["classified"] == counts["routed"] == len(expected)
    assert state is not None and state.consecutive_failures == 0
    delivered = slack_keys(slack)
    assert set(delivered) == outbox_keys(db), "an alert was lost"
    assert {k: n for k, n in delivered.items() if n > 1} == {}, "an alert was sent twice"
    assert counts.get("outbox_sent", 0) == len(outbox_keys(db)) > 0
