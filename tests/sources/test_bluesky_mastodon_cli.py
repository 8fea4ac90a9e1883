"""`brandmon sources` shows what the Bluesky and Mastodon sources read, polled through the pipeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from core.settings import parse_settings
from core.storage import Database
from models.lexicon import LexiconClassifier
from monitor.cli import main
from monitor.pipeline import Pipeline
from sources.mastodon import MastodonSource
from tests.support.bluesky import (
    BlueskyServer,
    bluesky_post,
    login_answers,
    mastodon_interaction,
    mastodon_secrets,
    notification,
    ok,
    served_source,
)
from tests.support.clock import Clock
from tests.support.sources import no_network, replay

pytestmark = pytest.mark.usefixtures("no_network")
__all__ = ["no_network"]

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_sources_shows_reads_for_bluesky_and_mastodon(sqlite_db: Database, tmp_path: Path) -> None:
    session_file = tmp_path / "kestrel-bsky.session"
    config = {
        "database_url": str(sqlite_db.url),
        "brands": [{"name": "kestrel", "query": "kestrel"}],
        "sources": [{"name": "kestrel-bsky", "type": "bluesky", "brand": "kestrel",
                     "options": {"session_file": str(session_file)}},
                    {"name": "kestrel-mastodon", "type": "mastodon", "brand": "kestrel",
                     "options": {"instance_url": "http://localhost:3000", "search": False}}],
        "slack": {"enabled": False},
    }
    post = bluesky_post()
    server = BlueskyServer(login_answers(**{
        "app.bsky.notification.listNotifications": ok("app.bsky.notification.listNotifications",
                                                      {"notifications": [notification(post)]}),
        "app.bsky.feed.getPosts": ok("app.bsky.feed.getPosts", {"posts": [post]}),
        "app.bsky.feed.searchPosts": ok("app.bsky.feed.searchPosts", {"posts": [post]})}))
    clock = Clock(NOW)
    built = {"kestrel-bsky": served_source(server, session_file, name="kestrel-bsky", query="kestrel"),
             "kestrel-mastodon": MastodonSource(name="kestrel-mastodon", brand="kestrel",
                                                options=config["sources"][1]["options"],  # type: ignore[index]
                                                secrets=mastodon_secrets(), clock=clock)}
    pipeline = Pipeline(parse_settings(config, origin="test.yaml"), sqlite_db, classifier=LexiconClassifier(),
                        sources=built, notifiers={}, clock=clock)
    assert pipeline.poll("kestrel-bsky").stored == 1
    with replay([mastodon_interaction("test_notifications_mentions_only.yaml", 1)], tmp_path):
        assert pipeline.poll("kestrel-mastodon").stored == 1
    path = tmp_path / "brandmon.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    shown = CliRunner().invoke(main, ["sources", "-c", str(path), "--month", "2026-03"])
    assert shown.exit_code == 0, shown.output
    lines = {line.split()[0]: line.split() for line in shown.output.splitlines()[1:] if line.startswith("kestrel-")}
    # name, type, brand, state, reads, requests: Bluesky read the post twice, through its notification and the
    # search (listNotifications, getPosts, searchPosts: 3 requests); Mastodon one mention notification
    assert lines["kestrel-bsky"][1:6] == ["bluesky", "kestrel", "ok", "2", "3"]
    assert lines["kestrel-mastodon"][1:6] == ["mastodon", "kestrel", "ok", "1", "1"]
    # every column is as wide as its widest cell: "mastodon" does not push the brand out from under BRAND
    header, *rows = shown.output.splitlines()[:3]
    starts = [header.index(name) for name in ("TYPE", "BRAND", "STATE")]
    for row in rows:
        assert all(row[at - 1] == " " != row[at] for at in starts), row
        assert [row[at:].split()[0] for at in starts] == lines[row.split()[0]][1:4]
        assert row.index(" kestrel ") + 1 == starts[1]
    assert header.index("TYPE") + len("mastodon") + 1 == header.index("BRAND")  # sized to content, no wider
    session = json.loads(session_file.read_text())["session"]
    assert session.split(":::")[2] not in shown.output and session.split(":::")[3] not in shown.output


def test_the_sources_table_pads_by_terminal_columns() -> None:
    from monitor.cli.sources_cmds import _table

    rows_in = [("a", "カケス", "7", "-"), ("bb", "kestrel", "12", "-")]
    header, *rows = _table(("NAME", "BRAND", "READS", "LAST"), rows_in)
    # カケス takes six columns, as many as "kestrel" less one: READS lines up under its header, right-aligned
    assert header == "NAME BRAND   READS  LAST"
    assert rows == ["a    カケス      7  -", "bb   kestrel    12  -"]
