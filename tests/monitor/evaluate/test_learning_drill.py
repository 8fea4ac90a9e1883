"""The learning drill: the team's corrections and confirmations on the early posts, the later posts measured before
and after the heads learned from them (`python -m monitor.evaluate.learning`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitor.demo import DEMO_CONFIG, SAMPLE_STREAM
from monitor.evaluate.labels import Labels
from monitor.evaluate.learning import main, split_early, team_feedback
from monitor.evaluate.replay import PostResult


def _post(mention_id: int, text: str, *, sentiment: str, complaint: bool, labels: Labels,
          opened: str | None = "respond", own: bool = True, from_brand: bool = False) -> PostResult:
    return PostResult(mention_id=mention_id, external_id=str(mention_id), network="x", brand="Acme", own=own,
                      from_brand=from_brand, labels=labels, text=text, followers=10, verified=False,
                      sentiment=sentiment, complaint=complaint, category="none", level="normal", urgency_score=0.3,
                      language="en", needs_human=False, matched_query=True, opened=opened)


def test_queued_misreads_are_corrections_and_queued_posts_read_right_are_confirmations() -> None:
    praise = Labels(sentiment="positive", complaint=False)
    posts = [
        _post(1, "@acme the 5G is stupidly fast", sentiment="negative", complaint=True, labels=praise),
        _post(2, "@acme no signal again", sentiment="negative", complaint=True,
              labels=Labels(sentiment="negative", complaint=True)),
        _post(3, "@acme lovely staff", sentiment="negative", complaint=False, labels=praise, opened=None),
        _post(4, "@acme what time do you open?", sentiment="neutral", complaint=False,
              labels=Labels(needs_reply="respond")),  # no sentiment label: nothing to correct it to
    ]
    corrections, confirmations = team_feedback(posts)
    assert [(c.id, c.sentiment, c.complaint) for c in corrections] == [(1, "positive", False)]
    assert [(c.id, c.sentiment, c.complaint) for c in confirmations] == [(-2, "negative", True)]


def test_the_early_share_is_the_first_customer_posts_in_time_order() -> None:
    labels = Labels(sentiment="neutral", complaint=False)
    posts = [_post(n, f"post {n}", sentiment="neutral", complaint=False, labels=labels) for n in (5, 1, 4, 2, 3)]
    posts.append(_post(6, "@jo sorry, DM us", sentiment="neutral", complaint=False, labels=labels, from_brand=True))
    early, late = split_early(posts, 0.4)
    assert [p.mention_id for p in early] == [1, 2] and [p.mention_id for p in late] == [3, 4, 5]
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_early(posts, 1.0)


def test_a_bad_share_is_refused_with_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([str(SAMPLE_STREAM), "-c", str(DEMO_CONFIG), "--early", "0"])
    assert exit_info.value.code == 2 and "--early must be between 0 and 1, got 0.0" in capsys.readouterr().err


@pytest.mark.slow
def test_the_demo_week_learns_from_its_first_half_and_is_measured_on_the_second(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "demo.yaml"
    config.write_text(DEMO_CONFIG.read_text(encoding="utf-8").replace("kind: multilingual", "kind: transformer"),
                      encoding="utf-8")
    assert main([str(SAMPLE_STREAM), "-c", str(config), "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    # the demo's 274 customer posts, split in time order; the later ones alone are measured
    assert run["early_posts"] + run["late_posts"] == 274 and run["before"]["own_posts"] == run["late_posts"]
    (brand,) = run["brands"]
    assert brand["brand"] == "Kestrel Mobile" and brand["corrections"] > 0 and brand["confirmations"] > 0
    assert brand["trained_on"] + brand["held_out"] + brand["unread"] == brand["corrections"] + brand["confirmations"]
    # the heads are kept only when they score at least as well on the held-out posts, and then the later posts
    # are measured again with them; the posts the team's work saw are never measured
    assert brand["accepted"] == (brand["held_out_after"]["score"] >= brand["held_out_before"]["score"])
    assert (run["after"] is not None) == brand["accepted"]
    if run["after"] is not None:
        assert run["after"]["own_posts"] == run["before"]["own_posts"] == run["late_posts"]
    assert "slack_messages" not in run["before"]  # counted per replay, not per share of its posts
    assert not (tmp_path / "brandmon.db").exists()
