"""The item page of a post the relevance filter hid: closed as not relevant, the reason in its audit, reopenable."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from core.storage import Database
from core.storage.schema import QueueItemRow
from tests.support.queue import post
from tests.support.relevance import BIRD, FilteringLexicon, route_posts
from tests.support.web import csrf_of, login, web_setup


def test_a_hidden_post_shows_why_and_a_responder_reopens_it(db: Database) -> None:
    setup = web_setup(db)
    ids = route_posts(db, FilteringLexicon(), [post("bird", BIRD, handle="birder", minutes_ago=2)])
    with db.session() as session:
        item_id = session.scalar(select(QueueItemRow.id).where(QueueItemRow.mention_id == ids["bird"]))
    client = TestClient(setup.app, base_url="http://testserver")
    login(client, "ana")
    page = client.get(f"/items/{item_id}")
    assert page.status_code == 200
    assert "filtered not relevant" in page.text and "reads this post as not about Kestrel Mobile" in page.text
    reopened = client.post(f"/items/{item_id}/status", data={"status": "new", "csrf_token": csrf_of(page.text)})
    assert reopened.status_code in (200, 303)
    with db.session() as session:
        assert session.get(QueueItemRow, item_id).status == "new"  # type: ignore[union-attr]
