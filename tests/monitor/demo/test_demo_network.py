"""The demo's loopback network: posts released on the clock, honest reply paths, replies in each network's form."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest

from core.domain import Mention, ReplyPath
from monitor.demo import SAMPLE_STREAM
from monitor.demo.network import DemoNetwork, DemoSource, SimClock, bluesky_tid, mastodon_id, x_snowflake
from monitor.demo.runner import MARKER, _prepare
from sources.replay import ReplaySource
from sources.reply_limits import ReplyRejected
from tests.support.clock import DEFAULT_START

END = DEFAULT_START
ACCOUNTS = {"x": "KestrelMobile", "reddit": "KestrelMobile_Support", "bluesky": "kestrelmobile.bsky.social",
            "mastodon": "KestrelMobile@mastodon.social"}


@pytest.fixture
def network() -> DemoNetwork:
    return DemoNetwork(SAMPLE_STREAM, end=END, clock=SimClock(END))


def _source(network: DemoNetwork) -> DemoSource:
    return DemoSource(name="kestrel-stream", brand="Kestrel Mobile", options={"path": str(SAMPLE_STREAM)},
                      demo=network, accounts=ACCOUNTS)


def _drain(source: DemoSource, cursor: str | None = None) -> tuple[list[Mention], str | None]:
    """Poll until nothing new; return what came and the cursor to go on from."""
    found: list[Mention] = []
    while True:
        batch = source.poll(cursor)
        found += batch.mentions
        if not batch.mentions:
            return found, cursor
        cursor = batch.cursor


def test_the_stream_ends_at_end_and_posts_appear_only_once_made(network: DemoNetwork) -> None:
    arrivals = network.arrivals()
    assert arrivals[-1] == END and arrivals == sorted(arrivals)
    clock = network.clock
    assert isinstance(clock, SimClock)
    clock.now = END - timedelta(days=3)
    source = _source(network)
    early, cursor = _drain(source)
    assert early and all(m.created_at <= clock.now for m in early)
    clock.set(END)
    rest, final = _drain(source, cursor)
    assert rest and all(m.created_at > END - timedelta(days=3) for m in rest)
    assert len(early) + len(rest) == sum(1 for r in network.records if r["brand"] == "Kestrel Mobile")
    assert source.poll(final).exhausted


def test_the_cursor_is_the_replay_sources_record_count(network: DemoNetwork) -> None:
    """`brandmon run` on the demo's config resumes its replay sources where the demo stopped, not before."""
    network.clock.now = END - timedelta(days=4)  # type: ignore[attr-defined]
    source = _source(network)
    _, cursor = _drain(source)
    network.clock.now = END  # type: ignore[attr-defined]
    following = source.poll(cursor).mentions[0]
    replay = ReplaySource(name="kestrel-stream", brand="Kestrel Mobile", options={"path": str(SAMPLE_STREAM)})
    assert replay.poll(cursor).mentions[0].external_id == following.external_id


def test_reply_paths_follow_each_networks_rules(network: DemoNetwork) -> None:
    mentions = _drain(_source(network))[0]
    for mention in mentions:
        record = mention.raw
        if mention.network == "x" and mention.text.startswith("RT @"):
            assert mention.reply_path == ReplyPath.BLOCKED
        elif mention.network == "x" and not record["summoned"]:
            assert mention.reply_path == ReplyPath.OPEN_IN_APP and mention.url in (mention.reply_path_reason or "")
        else:
            assert mention.reply_path == ReplyPath.API, mention.external_id
    assert {m.network for m in mentions if m.reply_path == ReplyPath.API} == {"x", "reddit", "bluesky", "mastodon"}


def test_replies_get_each_networks_ids_and_come_back_as_the_brands_own_posts(network: DemoNetwork) -> None:
    source = _source(network)
    mentions = {m.network: m for m in _drain(source)[0] if m.reply_path == ReplyPath.API}
    forms = {"x": r"\d{19}", "reddit": r"t1_[0-9a-z]{7}", "bluesky": r"at://did:plc:[2-7a-z]{24}/app\.bsky\.feed\.post/"
             r"[2-7a-z]{13}", "mastodon": r"\d{18}"}
    posted = {}
    for name, mention in mentions.items():
        reply = source.reply(mention, f"Hi there, this is the {name} team.")
        assert re.fullmatch(forms[name], reply.external_id), reply.external_id
        assert reply.posted_at > network.clock()
        posted[reply.external_id] = mention
    network.clock.now += timedelta(minutes=1)  # type: ignore[attr-defined]
    own = source.poll(str(len(network.records))).mentions
    assert {m.external_id for m in own} == set(posted)
    for mine in own:
        assert mine.raw["from_brand"] is True and mine.parent_id == posted[mine.external_id].external_id
        assert mine.author_handle == ACCOUNTS[mine.network] and mine.reply_path == ReplyPath.BLOCKED
    assert source.find_reply(mentions["x"], "Hi there, this is the x team.") is not None
    assert source.find_reply(mentions["x"], "something never posted") is None


def test_an_idempotency_key_posts_once(network: DemoNetwork) -> None:
    source = _source(network)
    mention = next(m for m in _drain(source)[0] if m.network == "mastodon" and m.reply_path == ReplyPath.API)
    first = source.reply(mention, "Hello!", idempotency_key="brandmon-reply-7")
    again = source.reply(mention, "Hello!", idempotency_key="brandmon-reply-7")
    assert first == again and len(network.replies) == 1


def test_a_reply_over_the_networks_limit_is_refused(network: DemoNetwork) -> None:
    source = _source(network)
    mention = next(m for m in _drain(source)[0] if m.network == "bluesky" and m.reply_path == ReplyPath.API)
    with pytest.raises(ReplyRejected, match="300"):
        source.reply(mention, "é" * 301)
    assert not network.replies


def test_ids_carry_their_time() -> None:
    at = datetime(2026, 11, 19, 8, 0, tzinfo=UTC)
    assert (int(x_snowflake(at, 5)) >> 22) + 1_288_834_974_657 == int(at.timestamp() * 1000)
    assert int(mastodon_id(at, 5)) >> 16 == int(at.timestamp() * 1000)
    assert bluesky_tid(at, 1) < bluesky_tid(at + timedelta(microseconds=1), 0) < bluesky_tid(at + timedelta(days=1), 0)


def test_a_demo_folder_is_cleared_and_any_other_folder_is_refused(tmp_path: Path) -> None:
    mine = tmp_path / "demo"
    _prepare(mine)
    (mine / "demo.db").write_text("old", encoding="utf-8")
    (mine / "digests").mkdir()
    _prepare(mine)
    assert (mine / MARKER).is_file() and not (mine / "demo.db").exists() and not (mine / "digests").exists()
    other = tmp_path / "photos"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(click.ClickException, match="holds no earlier demo"):
        _prepare(other)
    assert (other / "holiday.jpg").exists()
