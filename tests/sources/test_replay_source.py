"""The replay source over JSON Lines and the Customer Support on Twitter CSV layout."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.domain import ReplyPath
from monitor.demo import SAMPLE_STREAM
from sources import build_source
from sources.base import FatalSourceError, MalformedResponse, ReplyNotSupported
from sources.replay import ReplaySource, parse_time

TWCS_HEADER = "tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n"


def replay(path: Path, **options: object) -> ReplaySource:
    source = build_source("replay", name="r", brand="Kestrel Mobile", options={"path": str(path), **options})
    assert isinstance(source, ReplaySource)
    return source


def test_the_sample_stream_replays_in_batches_and_resumes_from_the_cursor() -> None:
    source = replay(SAMPLE_STREAM, batch_size=50)
    seen, cursor, exhausted = [], None, False
    while not exhausted:
        batch = source.poll(cursor)
        seen.extend(m.external_id for m in batch.mentions)
        cursor, exhausted = batch.cursor, batch.exhausted
    kestrel = [json.loads(line) for line in SAMPLE_STREAM.open(encoding="utf-8")]
    assert seen == [r["id"] for r in kestrel if r["brand"] == "Kestrel Mobile"]
    fresh = replay(SAMPLE_STREAM, batch_size=50)  # a restarted process resumes from the stored cursor
    assert fresh.poll(cursor).mentions == ()


def test_a_restart_mid_file_continues_exactly_where_the_cursor_points() -> None:
    first = replay(SAMPLE_STREAM, batch_size=40)
    b1 = first.poll(None)
    b2 = first.poll(b1.cursor)
    restarted = replay(SAMPLE_STREAM, batch_size=40)
    assert restarted.poll(b1.cursor).mentions == b2.mentions


def test_twcs_csv_keeps_only_customers_and_links_threads(tmp_path: Path) -> None:
    path = tmp_path / "twcs.csv"
    path.write_text(
        TWCS_HEADER
        + '1,sprintcare,False,Tue Oct 31 22:10:47 +0000 2017,@115712 How can we help?,2,3\n'
        + '3,115712,True,Tue Oct 31 22:08:27 +0000 2017,"@sprintcare my bill, again",1,\n'
        + '2,115712,True,Tue Oct 31 22:11:45 +0000 2017,@sprintcare and how would that work then,,1\n',
        encoding="utf-8",
    )
    batch = replay(path).poll(None)
    assert [m.external_id for m in batch.mentions] == ["3", "2"]
    first = batch.mentions[0]
    assert first.created_at == datetime(2017, 10, 31, 22, 8, 27, tzinfo=UTC)
    assert first.text == "@sprintcare my bill, again"
    assert batch.mentions[1].parent_id == "1"
    assert first.reply_path is ReplyPath.OPEN_IN_APP
    assert batch.exhausted and batch.cursor == "3"


def test_a_malformed_line_names_file_and_line_and_stores_nothing(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    good = {"id": "1", "text": "kestrel ok", "created_at": "2026-11-19T08:00:00Z"}
    path.write_text(json.dumps(good) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(MalformedResponse, match=rf"{path}:2: not valid JSON"):
        replay(path).poll(None)
    skipping = replay(path, skip_malformed=True).poll(None)
    assert [m.external_id for m in skipping.mentions] == ["1"] and skipping.cursor == "2"


def test_a_record_without_a_time_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"id": "1", "text": "kestrel"}) + "\n", encoding="utf-8")
    with pytest.raises(MalformedResponse, match=rf"{path}:1: created_at must be a time"):
        replay(path).poll(None)


def test_missing_file_and_missing_path_are_fatal(tmp_path: Path) -> None:
    with pytest.raises(FatalSourceError, match="cannot open"):
        replay(tmp_path / "nope.jsonl").poll(None)
    with pytest.raises(FatalSourceError, match=r"needs options\.path"):
        ReplaySource(name="r", brand="b", options={})


def test_replay_cannot_reply() -> None:
    source = replay(SAMPLE_STREAM)
    with pytest.raises(ReplyNotSupported):
        source.reply(source.poll(None).mentions[0], "thanks!")


def test_rebase_week_moves_the_file_into_the_last_full_iso_week() -> None:
    batch = replay(SAMPLE_STREAM, rebase="week", batch_size=1000).poll(None)
    today = datetime.now(UTC).date()
    monday = today.toordinal() - today.weekday() - 7
    assert all(monday <= m.created_at.date().toordinal() < monday + 7 for m in batch.mentions)


@pytest.mark.parametrize("value", ["2026-11-19T08:00:00Z", "2026-11-19T08:00:00+00:00",
                                   "Thu Nov 19 08:00:00 +0000 2026", 1795075200])
def test_parse_time_accepts_iso_twitter_and_epoch(value: object) -> None:
    assert parse_time(value) == datetime(2026, 11, 19, 8, 0, tzinfo=UTC)
