"""`python -m monitor.evaluate.conversations`: the shared Customer Support on Twitter sample as an evaluation stream."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from models.check_sets import CHECKS
from monitor.evaluate.conversations import (
    EXAMPLE_CONFIG,
    conversation_stream,
    label_records,
    main,
    read_labels,
    stream_config,
)
from monitor.evaluate.labels import StreamError, read_stream
from tests.support.paths import DATA_DIR

SAMPLE = DATA_DIR / "conversations" / "twcs-sample.csv"

pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason="the shared conversations sample is not here")


def _rows() -> dict[str, dict[str, str]]:
    with SAMPLE.open(encoding="utf-8", newline="") as handle:
        return {row["tweet_id"]: row for row in csv.DictReader(handle)}


def test_each_post_goes_to_the_company_that_answers_its_thread() -> None:
    rows = _rows()
    stream = conversation_stream(SAMPLE)
    by_id = {r["id"]: r for r in stream.records}
    assert len(by_id) == len(stream.records)  # each post once
    for record in stream.records:
        row = rows[record["id"]]
        if record.get("from_brand"):
            assert row["inbound"] == "False" and row["author_id"] == record["brand"]
            continue
        assert row["inbound"] == "True"
        # the thread's root is an ancestor in the export, and the brand answered somewhere in that thread
        parent = row["in_response_to_tweet_id"]
        if parent and parent in by_id:
            assert by_id[parent]["conversation_id"] == record["conversation_id"]
        assert any(r.get("from_brand") and r["brand"] == record["brand"] and r["conversation_id"] ==
                   record["conversation_id"] for r in stream.records)
        if parent and rows.get(parent, {}).get("inbound") == "False":
            assert record["addressed"]  # it answers the company
    assert sum(stream.customers.values()) == sum(not r.get("from_brand") for r in stream.records)
    # every row is in the stream or counted as left out
    assert len(stream.records) + stream.unanswered + stream.other_company + len(stream.rejected) == len(rows)
    assert stream.customers["AmazonHelp"] > 100 and stream.customers["AppleSupport"] > 100


def test_the_stream_and_config_it_writes_read_back_for_evaluate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main([str(SAMPLE), str(tmp_path / "out")])
    assert "next: brandmon evaluate --stream" in capsys.readouterr().out
    config = yaml.safe_load((tmp_path / "out" / "brandmon.yaml").read_text(encoding="utf-8"))
    brands = {b["name"] for b in config["brands"]}
    assert {"AmazonHelp", "AppleSupport", "ChipotleTweets"} <= brands
    assert all(set(route["brands"]) == brands for route in config["slack"]["routes"])
    assert config["classifier"] == yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))["classifier"]
    records, skipped = read_stream(tmp_path / "out" / "stream.jsonl", brands=brands)
    assert skipped == {} and len(records) == len(conversation_stream(SAMPLE).records)
    first = json.loads((tmp_path / "out" / "stream.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["text"] == _rows()[first["id"]]["text"]  # as exported: the replay decodes entities once


def test_routes_cover_every_company_and_nothing_else_changes() -> None:
    base = {"classifier": {"kind": "lexicon"}, "slack": {"routes": [{"name": "urgent", "channel": "#u",
                                                                      "brands": ["Kestrel"]}]},
            "brands": [{"name": "Kestrel", "query": "kestrel"}], "sources": [{"name": "x"}]}
    config = stream_config(base, ["A", "B"])
    assert config["brands"] == [{"name": "A", "query": "@A", "handles": {"x": "A"}},
                                {"name": "B", "query": "@B", "handles": {"x": "B"}}]
    assert config["slack"]["routes"] == [{"name": "urgent", "channel": "#u", "brands": ["A", "B"]}]
    assert config["sources"] == [] and config["classifier"] == {"kind": "lexicon"}
    assert base["brands"] == [{"name": "Kestrel", "query": "kestrel"}]  # the base is left as it was


def test_the_export_s_numbers_for_a_company_s_handle_are_found() -> None:
    stream = conversation_stream(SAMPLE)
    # the sample writes "@115858" where a customer tagged AppleSupport, "@115821" for Amazon
    assert stream.aliases["AppleSupport"] == "115858" and stream.aliases["AmazonHelp"] == "115821"
    assert len(set(stream.aliases.values())) == len(stream.aliases)  # no number stands for two companies
    opening = next(r for r in stream.records if r["brand"] == "AppleSupport" and not r.get("from_brand")
                   and r["parent_id"] is None and "@115858" in r["text"])
    assert opening["addressed"]
    config = stream_config({}, ["AppleSupport", "Delta"], stream.aliases)
    assert [b["query"] for b in config["brands"]] == ["@AppleSupport OR @115858", "@Delta"]


def test_hand_labels_go_on_the_posts_they_name(tmp_path: Path) -> None:
    labels = read_labels(CHECKS / "needs_reply.jsonl")
    assert len(labels) == 100 and all(set(v) == {"needs_reply"} for v in labels.values())  # written posts skipped
    stream = conversation_stream(SAMPLE)
    assert label_records(stream.records, labels) == 100
    labelled = [r for r in stream.records if "needs_reply" in r]
    assert all(not r.get("from_brand") and labels[r["id"]]["needs_reply"] == r["needs_reply"] for r in labelled)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"tweet_id": "1", "needs_reply": "thank"}\nnot json\n', encoding="utf-8")
    with pytest.raises(StreamError, match=r"bad.jsonl:2: not JSON"):
        read_labels(bad)
