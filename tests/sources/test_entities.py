"""HTML entities are decoded once, at ingest, for every network that sends them, and only for those."""

from __future__ import annotations

import json
from pathlib import Path

from sources import build_source
from sources.mastodon import html_to_text

TWCS_HEADER = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"
ESCAPED = "@kestrel AT&amp;T &lt;3 &gt;_&lt; typed &amp;amp; &copy"
DECODED = "@kestrel AT&T <3 >_< typed &amp; &copy"


def texts(path: Path) -> list[str]:
    source = build_source("replay", name="r", brand="Kestrel Mobile", options={"path": str(path)})
    return [mention.text for mention in source.poll(None).mentions]


def test_the_twitter_csv_export_is_decoded_once(tmp_path: Path) -> None:
    path = tmp_path / "twcs.csv"
    path.write_text(TWCS_HEADER + f'1,115712,True,Tue Oct 31 22:08:27 +0000 2017,"{ESCAPED}",,\n', encoding="utf-8")
    assert texts(path) == [DECODED]


def test_a_json_lines_replay_decodes_x_posts_and_keeps_other_networks_as_typed(tmp_path: Path) -> None:
    path = tmp_path / "stream.jsonl"
    rows = [{"id": "1", "network": "x", "text": ESCAPED, "created_at": "2026-11-30T09:00:00Z"},
            {"id": "2", "network": "reddit", "text": ESCAPED, "created_at": "2026-11-30T09:01:00Z"},
            {"id": "3", "network": "bluesky", "text": "Fish &amp; chips", "created_at": "2026-11-30T09:02:00Z"}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    assert texts(path) == [DECODED, ESCAPED, "Fish &amp; chips"]


def test_mastodon_html_becomes_text_with_every_entity_decoded_once() -> None:
    html = '<p>@<span>kestrel</span> AT&amp;T &lt;3 typed &amp;amp;<br>second line &#39;quoted&#39;</p>'
    assert html_to_text(html) == "@kestrel AT&T <3 typed &amp;\nsecond line 'quoted'"
