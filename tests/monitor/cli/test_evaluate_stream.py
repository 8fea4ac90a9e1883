"""`brandmon evaluate --stream`: a labelled stream through the real classify and route steps, nothing sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.slack_loopback import SlackLoopback
from monitor.cli import main
from monitor.demo import DEMO_CONFIG, SAMPLE_STREAM
from tests.support.streams import POSTS, write_config, write_stream


def _evaluate(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["evaluate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_each_route_is_measured_against_the_labels(tmp_path: Path, slack: SlackLoopback) -> None:
    stream = write_stream(tmp_path / "stream.jsonl")
    config = write_config(tmp_path / "brandmon.yaml", slack_url=slack.base_url)
    code, out, err = _evaluate("--stream", str(stream), "-c", str(config), "--json")
    assert code == 0, err
    figures = json.loads(out)
    assert figures["posts"] == len(POSTS) and figures["own_posts"] == 5
    negatives, complaints = figures["routes"]["negatives"], figures["routes"]["complaints"]
    assert (negatives["tp"], negatives["fp"], negatives["fn"]) == (1, 1, 1)
    assert negatives["precision"] == 0.5 and negatives["recall"] == 0.5 and negatives["f1"] == 0.5
    # the terrible-service complaint went to `negatives` first, so it could not reach `complaints`
    assert (complaints["tp"], complaints["fp"], complaints["fn"], complaints["taken_earlier"]) == (1, 0, 0, 1)
    assert figures["any_alert"]["precision"] == round(2 / 3, 4) and figures["any_alert"]["recall"] == 1.0
    assert figures["slack_messages"] == 3 and figures["slack_messages_per_post"] == 0.5
    assert figures["messages_by_rule"] == {"complaints": 1, "negatives": 2}
    assert figures["thank"]["tp"] == 1 and figures["thank"]["precision"] == 1.0
    assert figures["category"]["n"] == 3
    assert figures["model"]["irony"] == {"n": 1, "read_as_complaint": 1.0}
    work = figures["workload"]  # what the team got, counted without labels
    assert sum(work["levels"].values()) == figures["own_posts"]
    assert work["queue_items"].get("thank", 0) == figures["thank"]["tp"] + figures["thank"]["fp"]
    assert work["queue_items"].get("respond", 0) == figures["respond"]["tp"] + figures["respond"]["fp"]
    assert 1 <= sum(work["complaint_categories"].values()) <= figures["own_posts"]
    assert slack.all_messages() == []  # the configured Slack never heard a thing
    assert not (tmp_path / "brandmon.db").exists()  # nor did the configured database


def test_the_brands_own_answers_are_not_counted_as_posts_that_could_alert(tmp_path: Path) -> None:
    answer = ("@user0 so sorry about this, we are on it", "Acme",
              {"from_brand": True, "parent_id": "p0", "conversation_id": "p0"})
    stream = write_stream(tmp_path / "stream.jsonl", [*POSTS, answer])
    code, out, err = _evaluate("--stream", str(stream), "-c", str(write_config(tmp_path / "brandmon.yaml")), "--json")
    assert code == 0, err
    figures = json.loads(out)
    # the team's answer is replayed (it joins the customer's case) but can raise no alert
    assert figures["posts"] == len(POSTS) + 1 and figures["brand_posts"] == 1
    assert figures["slack_messages"] == 3 and figures["slack_messages_per_post"] == 0.5
    code, out, err = _evaluate("--stream", str(stream), "-c", str(write_config(tmp_path / "brandmon.yaml")))
    assert code == 0, err
    assert "Slack messages per post: 0.500 (3 messages for 6 posts; the brands' own 1 left out)" in out


def test_the_table_names_the_model_and_every_route(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "stream.jsonl")
    config = write_config(tmp_path / "brandmon.yaml")
    code, out, err = _evaluate("--stream", str(stream), "-c", str(config))
    assert code == 0, err
    assert "6 posts of stream.jsonl scored by lexicon" in out
    assert "negatives" in out and "complaints" in out and "Slack messages per post: 0.500" in out
    assert "levels of the 5 customer posts: " in out and "queue items they opened: " in out
    assert "routing" in err  # the progress bar goes to stderr


def test_a_bad_label_names_its_line(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "stream.jsonl", [("@acme hi", "Acme", {"sentiment": "angry"})])
    code, _, err = _evaluate("--stream", str(stream), "-c", str(write_config(tmp_path / "brandmon.yaml")))
    assert code == 2 and f"{stream}:1: sentiment must be one of negative, neutral, positive" in err


def test_a_record_without_a_brand_is_refused(tmp_path: Path) -> None:
    stream = tmp_path / "stream.jsonl"
    stream.write_text('{"id": "1", "text": "hi", "created_at": "2026-03-02T09:00:00Z"}\n', encoding="utf-8")
    code, _, err = _evaluate("--stream", str(stream), "-c", str(write_config(tmp_path / "brandmon.yaml")))
    assert code == 2 and "brand is missing" in err


def test_benchmark_options_do_not_go_with_a_stream(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "stream.jsonl")
    code, _, err = _evaluate("--stream", str(stream), "-c", str(write_config(tmp_path / "c.yaml")), "--model", "x")
    assert code == 2 and "--model does not go with --stream" in err


@pytest.mark.slow
def test_the_demo_stream_is_labelled_for_evaluation(tmp_path: Path) -> None:
    config = tmp_path / "demo.yaml"
    config.write_text(DEMO_CONFIG.read_text(encoding="utf-8").replace("kind: multilingual", "kind: lexicon"),
                      encoding="utf-8")
    code, out, err = _evaluate("--stream", str(SAMPLE_STREAM), "-c", str(config), "--json")
    assert code == 0, err
    figures = json.loads(out)
    assert figures["posts"] == 411 and set(figures["routes"]) == {"urgent", "complaints", "big-accounts"}
    assert figures["category"]["n"] == 314  # every own complaint and outage post, praise, news, spam, thanks
    assert figures["routes"]["urgent"]["unlabelled"] == 0
