"""Reddit pages a busy listing past its first 100 things until it reaches the cursor, so nothing is skipped."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sources.reddit import RedditSource
from tests.support.clock import Clock
from tests.support.sources import no_network, praw_interaction, praw_interactions, reddit_secrets, reddit_token, replay

__all__ = ["no_network"]

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RECORDING = "TestSubreddit.test_search.json"
T0 = 1_700_000_000.0


def _recorded_listing() -> dict[str, Any]:
    """The recorded search listing (Reddit's real JSON), to build pages from."""
    return json.loads(praw_interactions(RECORDING)[1]["response"]["body"]["string"])  # type: ignore[no-any-return]


def _page(ids_and_times: list[tuple[str, float]], after: str | None) -> dict[str, Any]:
    listing = _recorded_listing()
    template = listing["data"]["children"][0]
    children = []
    for thing_id, created in ids_and_times:
        child = copy.deepcopy(template)
        child["data"] |= {"id": thing_id, "name": f"t3_{thing_id}", "created_utc": created, "created": created,
                          "archived": False, "locked": False}
        children.append(child)
    listing["data"] |= {"children": children, "after": after}
    return listing


def source(limit: int) -> RedditSource:
    return RedditSource(name="kr", brand="Kestrel", options={"user_agent": "brandmon-test/1.0", "limit": limit,
                                                             "overlap_s": 0}, query="praw",
                        secrets=reddit_secrets(), clock=Clock(NOW))


def test_busy_listing_is_paged_until_it_reaches_the_cursor(tmp_path: Path) -> None:
    src = source(limit=3)
    cursor = json.dumps({"search": {"newest_utc": T0, "seen": {"t3_old1": T0}}})
    first = _page([("n6", T0 + 60), ("n5", T0 + 50), ("n4", T0 + 40)], after="t3_n4")
    second = _page([("n3", T0 + 30), ("n2", T0 + 20), ("n1", T0 + 10)], after="t3_n1")
    third = _page([("n0", T0 + 5), ("old1", T0), ("old0", T0 - 10)], after="t3_old0")
    cassette = [reddit_token()] + [praw_interaction(RECORDING, 1, body=b) for b in (first, second, third)]
    with replay(cassette, tmp_path) as played:
        batch = src.poll(cursor)
    assert sorted(m.external_id for m in batch.mentions) == sorted(f"t3_n{i}" for i in range(7))
    afters = [dict(parse_qsl(urlsplit(u).query)).get("after") for u in played.uris()[1:]]
    assert afters == [None, "t3_n4", "t3_n1"]  # the third page reached the cursor: no fourth request
    assert json.loads(batch.cursor or "")["search"]["newest_utc"] == T0 + 60


def test_first_poll_reads_one_page(tmp_path: Path) -> None:
    src = source(limit=3)
    first = _page([("n6", T0 + 60), ("n5", T0 + 50), ("n4", T0 + 40)], after="t3_n4")
    with replay([reddit_token(), praw_interaction(RECORDING, 1, body=first)], tmp_path) as played:
        batch = src.poll(None)
    assert len(batch.mentions) == 3 and len(played.uris()) == 2
