"""One contract suite over every registered source: batches and cursors, 429, 5xx, malformed answers."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

import sources
from core.domain import Batch, Mention
from core.storage import Database
from core.storage.schema import MentionRow, SourceStateRow
from monitor.pipeline.ingest import poll_source
from sources.base import MalformedResponse, RateLimited, RetriableError, Source
from sources.mastodon import MastodonSource
from sources.reddit import RedditSource
from sources.replay import ReplaySource
from sources.x import XSource
from tests.support.bluesky import (
    bluesky_json,
    bluesky_login,
    bluesky_notifications,
    bluesky_post,
    bluesky_source,
    mastodon_interaction,
    mastodon_secrets,
)
from tests.support.clock import Clock
from tests.support.sources import (
    Interaction,
    no_network,
    praw_interaction,
    reddit_json,
    reddit_secrets,
    reddit_token,
    replay,
    snowflake,
    x_json,
    x_page,
    x_post,
    x_secrets,
    x_user,
)

pytestmark = pytest.mark.usefixtures("no_network")
__all__ = ["no_network"]

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SEEDED_CURSOR_NOTE = "a cursor stored before the failing poll must survive it"


class Harness(ABC):
    """How to build one network's source and make its far side answer in each way the contract names."""

    http = True
    #: A valid cursor from an earlier poll, to check a failing poll leaves it alone.
    seed_cursor = "{}"

    @abstractmethod
    def source(self, tmp_path: Path) -> Source:
        """Build the source under test."""

    @abstractmethod
    def ok(self, tmp_path: Path) -> list[Interaction]:
        """Answers for a poll that returns posts."""

    @abstractmethod
    def status(self, code: int, headers: dict[str, str]) -> list[Interaction]:
        """Answers for a poll that fails with an HTTP status."""

    @abstractmethod
    def malformed(self, tmp_path: Path) -> list[Interaction]:
        """Answers for a poll whose response is not JSON."""


class XHarness(Harness):
    seed_cursor = json.dumps({"v": 1, "kinds": {"search": {"since_id": "1500000000000000000"}}})
    route = "/2/tweets/search/recent"

    def source(self, tmp_path: Path) -> Source:
        return XSource(name="contract-x", brand="Kestrel", options={"kinds": ["search"]}, query="kestrel",
                       secrets=x_secrets(), clock=Clock(NOW))

    def ok(self, tmp_path: Path) -> list[Interaction]:
        author = x_user("2001", "alice_w")
        posts = [x_post(snowflake(NOW, n), f"kestrel post {n}", author) for n in (2, 1)]
        return [x_json("GET", self.route, 200, x_page(posts, [author]))]

    def status(self, code: int, headers: dict[str, str]) -> list[Interaction]:
        body = {"title": "status", "detail": f"status {code}", "type": "about:blank", "status": code}
        return [x_json("GET", self.route, code, body, headers=headers, validate=False)]

    def malformed(self, tmp_path: Path) -> list[Interaction]:
        return [x_json("GET", self.route, 200, '{"data": [{"id": "1", "text": "kes', validate=False)]


class RedditHarness(Harness):
    uri = "https://oauth.reddit.com/r/all/search/"

    def source(self, tmp_path: Path) -> Source:
        return RedditSource(name="contract-reddit", brand="Kestrel", options={"user_agent": "brandmon:contract:0.1"},
                            query="praw", secrets=reddit_secrets(), clock=Clock(NOW))

    def ok(self, tmp_path: Path) -> list[Interaction]:
        return [reddit_token(), praw_interaction("TestSubreddit.test_search.json", 1)]

    def status(self, code: int, headers: dict[str, str]) -> list[Interaction]:
        return [reddit_token(), reddit_json("GET", self.uri, code, "<html>status</html>", headers=headers)]

    def malformed(self, tmp_path: Path) -> list[Interaction]:
        return [reddit_token(), reddit_json("GET", self.uri, 200, "<html>we took reddit down for maintenance")]


class ReplayHarness(Harness):
    http = False
    seed_cursor = "0"

    def source(self, tmp_path: Path) -> Source:
        return ReplaySource(name="contract-replay", brand="Kestrel",
                            options={"path": str(tmp_path / "mentions.jsonl"), "network": "replay"})

    def ok(self, tmp_path: Path) -> list[Interaction]:
        lines = [{"id": f"r{n}", "text": f"kestrel post {n}", "created_at": "2026-03-01T10:00:00Z"} for n in (1, 2)]
        (tmp_path / "mentions.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        return []

    def status(self, code: int, headers: dict[str, str]) -> list[Interaction]:
        pytest.skip("a replay file has no HTTP status")

    def malformed(self, tmp_path: Path) -> list[Interaction]:
        (tmp_path / "mentions.jsonl").write_text('{"id": "r1", "text": "kes\n', encoding="utf-8")
        return []


class MastodonHarness(Harness):
    uri = "http://localhost:3000/api/v1/notifications"

    def source(self, tmp_path: Path) -> Source:
        return MastodonSource(name="contract-mastodon", brand="Kestrel",
                              options={"instance_url": "http://localhost:3000"}, secrets=mastodon_secrets(),
                              clock=Clock(NOW))

    def ok(self, tmp_path: Path) -> list[Interaction]:
        return [mastodon_interaction("test_notifications_mentions_only.yaml", 1)]

    def status(self, code: int, headers: dict[str, str]) -> list[Interaction]:
        if "x-rate-limit-reset" in headers:  # Mastodon sends the reset as an ISO time
            reset = datetime.fromtimestamp(int(headers["x-rate-limit-reset"]), UTC)
            headers = {"x-ratelimit-limit": "300", "x-ratelimit-remaining": "0",
                       "x-ratelimit-reset": reset.isoformat().replace("+00:00", "Z")}
        return [Interaction("GET", self.uri, code, '{"error": "status"}',
                            {"content-type": ["application/json"]} | {k: [v] for k, v in headers.items()})]

    def malformed(self, tmp_path: Path) -> list[Interaction]:
        return [Interaction("GET", self.uri, 200, '[{"id": "21", "type": "ment',
                            {"content-type": ["application/json"]})]


class BlueskyHarness(Harness):
    def source(self, tmp_path: Path) -> Source:
        return bluesky_source("contract-bluesky")

    def ok(self, tmp_path: Path) -> list[Interaction]:
        return [*bluesky_login(), bluesky_json("app.bsky.notification.listNotifications", bluesky_notifications()),
                bluesky_json("app.bsky.feed.getPosts", {"posts": [bluesky_post()]})]

    def status(self, code: int, headers: dict[str, str]) -> list[Interaction]:
        if "x-rate-limit-reset" in headers:
            headers = {"ratelimit-reset": headers["x-rate-limit-reset"], "ratelimit-remaining": "0"}
        return [*bluesky_login(), bluesky_json("app.bsky.notification.listNotifications",
                                               {"error": "Status", "message": f"status {code}"}, code, headers)]

    def malformed(self, tmp_path: Path) -> list[Interaction]:
        return [*bluesky_login(), bluesky_json("app.bsky.notification.listNotifications", '{"notifications": [{"ur')]


HARNESSES: dict[str, Harness] = {"x": XHarness(), "reddit": RedditHarness(), "replay": ReplayHarness(),
                                 "mastodon": MastodonHarness(), "bluesky": BlueskyHarness()}


def test_every_registered_source_has_a_contract_harness() -> None:
    assert set(HARNESSES) == set(sources.REGISTRY)


@pytest.fixture(params=sorted(sources.REGISTRY))
def harness(request: pytest.FixtureRequest) -> Harness:
    return HARNESSES[request.param]


def _poll(harness: Harness, source: Source, answers: list[Interaction], tmp_path: Path, cursor: str | None = None
          ) -> tuple[Batch | None, Exception | None, int]:
    """Poll once behind the answers; return the batch or the error, and how many requests were sent."""
    def run() -> tuple[Batch | None, Exception | None]:
        try:
            return source.poll(cursor), None
        except Exception as exc:  # the contract is about which error
            return None, exc

    if not harness.http:
        batch, error = run()
        return batch, error, 0
    with replay(answers, tmp_path) as played:
        batch, error = run()
    return batch, error, len(played.sent)


def test_poll_returns_a_batch_and_a_cursor(harness: Harness, tmp_path: Path) -> None:
    source = harness.source(tmp_path)
    batch, error, _ = _poll(harness, source, harness.ok(tmp_path), tmp_path)
    assert error is None and isinstance(batch, Batch)
    assert isinstance(batch.cursor, str) and batch.cursor
    assert batch.mentions and all(isinstance(m, Mention) and m.network == source.network for m in batch.mentions)
    assert len({m.external_id for m in batch.mentions}) == len(batch.mentions)
    assert all(m.created_at.tzinfo is not None for m in batch.mentions)


def test_429_becomes_rate_limited_with_a_retry_time(harness: Harness, tmp_path: Path, sqlite_db: Database) -> None:
    source = harness.source(tmp_path)
    reset = NOW.timestamp() + 600
    answers = harness.status(429, {"x-rate-limit-reset": str(int(reset)), "retry-after": "600"})
    batch, error, _ = _poll(harness, source, answers, tmp_path)
    assert isinstance(error, RateLimited) and batch is None
    assert (error.retry_at - NOW).total_seconds() == pytest.approx(600, abs=1)
    with replay(answers, tmp_path):
        outcome = poll_source(sqlite_db, harness.source(tmp_path), now=NOW)
    assert outcome.error and outcome.stored == 0
    with sqlite_db.session() as session:
        state = session.get(SourceStateRow, source.name)
        assert state.disabled_until == error.retry_at and state.fatal_error is None


@pytest.mark.parametrize("code", [500, 502, 503])
def test_5xx_is_retriable_and_retried_by_the_scheduler_not_inline(harness: Harness, tmp_path: Path, code: int) -> None:
    source = harness.source(tmp_path)
    _, error, sent = _poll(harness, source, harness.status(code, {}), tmp_path)
    assert isinstance(error, RetriableError) and not isinstance(error, MalformedResponse)
    assert str(code) in str(error)
    assert sent == len(harness.status(code, {}))  # one attempt: the backoff lives in one policy, the scheduler's


def test_malformed_json_is_a_clear_error_and_stores_nothing(harness: Harness, tmp_path: Path,
                                                           sqlite_db: Database) -> None:
    answers = harness.malformed(tmp_path)
    source = harness.source(tmp_path)
    batch, error, _ = _poll(harness, source, answers, tmp_path)
    assert isinstance(error, MalformedResponse) and batch is None
    assert "JSON" in str(error)
    with sqlite_db.session() as session:
        session.add(SourceStateRow(source_name=source.name, cursor=harness.seed_cursor, consecutive_failures=0,
                                   exhausted=False))
    if harness.http:
        with replay(harness.malformed(tmp_path), tmp_path):
            outcome = poll_source(sqlite_db, harness.source(tmp_path), now=NOW)
    else:
        outcome = poll_source(sqlite_db, harness.source(tmp_path), now=NOW)
    assert outcome.error and "JSON" in outcome.error
    with sqlite_db.session() as session:
        assert session.execute(select(MentionRow.id)).first() is None
        state = session.get(SourceStateRow, source.name)
        assert state.cursor == harness.seed_cursor, SEEDED_CURSOR_NOTE
        assert state.consecutive_failures == 1 and state.disabled_until is not None


def test_one_source_with_bad_credentials_stops_no_other(sqlite_db: Database, tmp_path: Path) -> None:
    broken = XHarness().source(tmp_path)
    working = ReplayHarness()
    working.ok(tmp_path)
    with replay(XHarness().status(401, {}), tmp_path):
        failed = poll_source(sqlite_db, broken, now=NOW)
    ok = poll_source(sqlite_db, working.source(tmp_path), now=NOW)
    assert failed.error and "401" in failed.error
    assert ok.stored == 2
    with sqlite_db.session() as session:
        assert session.get(SourceStateRow, "contract-x").fatal_error
        assert session.get(SourceStateRow, "contract-replay").fatal_error is None
