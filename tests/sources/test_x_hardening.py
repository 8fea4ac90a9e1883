"""X: long posts keep their full text (note_post), entities are decoded once, deleted posts are swept and purged."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import select

from core.domain import Batch, Mention
from core.storage import Database
from core.storage.schema import AlertRow, MentionRow, OutboxRow
from monitor.pipeline.ingest import store_batch
from monitor.pipeline.sweep import PURGED_TEXT, sweep_deleted
from sources.x import XSource
from tests.support.clock import Clock
from tests.support.sources import (
    BRAND_X_ID,
    TWEEPY,
    no_network,
    replay,
    snowflake,
    x_json,
    x_page,
    x_post,
    x_secrets,
    x_user,
)

__all__ = ["no_network"]

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SEARCH = "/2/tweets/search/recent"
ALICE = x_user("2001", "alice_w", followers=52_000)
RECORDED_IDS = ("1293593516040269825", "1293595870563381249")  # test_client_get_tweets.yaml


def make_source() -> XSource:
    return XSource(name="kx", brand="Kestrel", options={"kinds": ["search"], "user_id": BRAND_X_ID},
                   query="kestrel", secrets=x_secrets(), clock=Clock(NOW))


def test_long_posts_are_requested_and_stored_with_their_full_text(tmp_path: Path) -> None:
    full = "kestrel mobile " + "my bill is wrong again and nobody answers. " * 20
    post = x_post(snowflake(NOW.replace(hour=8), 1), full[:277] + "…", ALICE)
    post["note_post"] = {"text": full}
    with replay([x_json("GET", SEARCH, 200, x_page([post], [ALICE]))], tmp_path, x_requests=True) as played:
        (mention,) = make_source().poll(None).mentions
    assert mention.text == full and len(mention.text) > 280
    fields = dict(parse_qsl(urlsplit(played.uris()[0]).query))["post.fields"].split(",")
    assert "note_post" in fields


def test_html_entities_are_decoded_once(tmp_path: Path) -> None:
    post = x_post(snowflake(NOW.replace(hour=8), 2), "kestrel AT&amp;T &lt;3 &gt;_&lt; typed &amp;amp; &copy", ALICE)
    with replay([x_json("GET", SEARCH, 200, x_page([post], [ALICE]))], tmp_path):
        (mention,) = make_source().poll(None).mentions
    assert mention.text == "kestrel AT&T <3 >_< typed &amp; &copy"


def test_recorded_lookup_of_existing_posts_finds_none_deleted() -> None:
    with replay(TWEEPY / "test_client_get_tweets.yaml") as played:
        assert make_source().deleted_among(list(RECORDED_IDS)) == set()
    assert dict(parse_qsl(urlsplit(played.uris()[0]).query))["ids"] == ",".join(RECORDED_IDS)


def _stored(db: Database, source: XSource, *ids: str) -> None:
    mentions = tuple(Mention(network="x", external_id=i, author_handle="alice_w", author_name="Alice",
                             text=f"kestrel post {i}", created_at=NOW, url=f"https://x.com/i/status/{i}") for i in ids)
    store_batch(db, source, Batch(mentions, None), now=NOW)


def test_sweep_purges_posts_deleted_on_x_and_scrubs_their_outbox_copies(db: Database, tmp_path: Path) -> None:
    source = make_source()
    kept, deleted = "1293593516040269825", "1293595870563381249"
    _stored(db, source, kept, deleted)
    with db.session() as session:
        deleted_row = session.execute(select(MentionRow.id).where(MentionRow.external_id == deleted)).scalar()
        alert = OutboxRow(kind="slack", channel="#care", dedupe_key="slack:urgent:9", status="pending", attempts=0,
                          payload={"mention_id": deleted_row, "text": "kestrel post", "author_handle": "alice_w"},
                          next_attempt_at=NOW, created_at=NOW)
        session.add(alert)
        session.flush()
        session.add(AlertRow(mention_id=deleted_row, rule="urgent", channel="#care", created_at=NOW,
                             outbox_id=alert.id))
    body = {
        "data": [{"id": kept, "text": "kestrel post", "edit_history_post_ids": [kept]}],
        "errors": [{"value": deleted, "detail": f"Could not find post with ids: [{deleted}].",
                    "title": "Not Found Error",
                    "resource_type": "post", "parameter": "ids", "resource_id": deleted,
                    "type": "https://api.x.com/2/problems/resource-not-found"}],
    }
    lookup = x_json("GET", f"/2/tweets?ids={kept}%2C{deleted}", 200, body)
    with replay([lookup], tmp_path, x_requests=True):
        outcome = sweep_deleted(db, source, now=NOW)
    assert (outcome.checked, outcome.purged, outcome.error) == (2, 1, None)
    with db.session() as session:
        assert session.execute(select(MentionRow.external_id)).scalars().all() == [kept]
        outbox = session.execute(select(OutboxRow)).scalar_one()
        assert outbox.payload["text"] == PURGED_TEXT and outbox.payload["author_handle"] is None
        assert outbox.status == "dead"
