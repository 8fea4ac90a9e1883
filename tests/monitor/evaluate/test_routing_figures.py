"""Route truth from labels, the counts, threshold choice and the minimal rewrite of a config's thresholds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core.settings import ConfigError, RouteRule, load_settings
from monitor.evaluate.calibrate import choose_thresholds
from monitor.evaluate.config_edit import set_route_thresholds, write_route_thresholds
from monitor.evaluate.figures import count, route_counts, route_truth, wrongly_queued_counts
from monitor.evaluate.labels import Labels, StreamError, parse_labels
from monitor.evaluate.replay import PostResult
from tests.support.settings import make_settings

POST = PostResult(mention_id=1, external_id="1", network="x", brand="Kestrel Mobile", own=True, from_brand=False,
                  labels=Labels(), text="kestrel", followers=10, verified=False, sentiment="negative", complaint=True,
                  category="billing", level="high", urgency_score=0.6, language="en", needs_human=False,
                  matched_query=True)


def _post(mention_id: int, score: float, **labels: object) -> PostResult:
    return replace(POST, mention_id=mention_id, urgency_score=score, labels=Labels(**labels))  # type: ignore[arg-type]


def test_a_route_without_label_conditions_wants_posts_that_need_the_team() -> None:
    rule = RouteRule(name="urgent", channel="#u", min_urgency=0.5)
    assert route_truth(rule, _post(1, 0.6, needs_reply="respond")) is True
    assert route_truth(rule, _post(1, 0.6, needs_reply="thank", complaint=True)) is False  # needs_reply decides
    assert route_truth(rule, _post(1, 0.6, complaint=True)) is True  # else the complaint label
    assert route_truth(rule, _post(1, 0.6)) is None  # no label says
    assert route_truth(rule, _post(1, 0.6, needs_reply="respond", scam=True)) is False  # security, not care


def test_label_conditions_are_read_on_the_labels_and_post_conditions_on_the_post() -> None:
    rule = RouteRule(name="vip", channel="#v", sentiments=["negative"], complaint=True, min_followers=50)
    assert route_truth(rule, _post(1, 0.1, sentiment="negative", complaint=True)) is False  # 10 followers
    big = replace(_post(1, 0.1, sentiment="negative", complaint=True), followers=60)
    assert route_truth(rule, big) is True
    assert route_truth(rule, replace(big, labels=Labels(sentiment="negative"))) is None
    assert route_truth(rule, replace(big, labels=Labels(sentiment="neutral"))) is False
    assert route_truth(rule, replace(big, own=False)) is False  # a competitor is never alerted


def test_counts_give_precision_recall_and_f1() -> None:
    counts = count([(True, True), (True, False), (False, True), (False, False), (None, True)])
    assert (counts.tp, counts.fn, counts.fp, counts.tn, counts.unlabelled) == (1, 1, 1, 1, 1)
    assert counts.precision == counts.recall == counts.f1 == 0.5
    assert count([]).precision is None and count([(False, False)]).f1 is None


def test_posts_that_need_nothing_count_against_both_queues_and_scams_against_any() -> None:
    posts = [replace(_post(1, 0.1, needs_reply="none"), opened="thank"),  # an ad thanked in public
             replace(_post(2, 0.1, needs_reply="none"), opened="respond"),
             _post(3, 0.1, needs_reply="none"),
             replace(_post(4, 0.1, needs_reply="none", scam=True), opened="thank"),
             replace(_post(5, 0.1, needs_reply="thank"), opened="thank")]
    assert wrongly_queued_counts(posts) == {"scam_queued": 1, "no_action_queued_respond": 1,
                                            "no_action_queued_thank": 1}


def test_a_post_an_earlier_route_took_is_left_out_of_later_recall() -> None:
    first = RouteRule(name="first", channel="#a")
    second = RouteRule(name="second", channel="#b", complaint=True)
    taken = replace(_post(1, 0.6, needs_reply="respond", complaint=True), alerts=frozenset({"first"}))
    missed = _post(2, 0.6, needs_reply="respond", complaint=True)
    counts = route_counts([first, second], [taken, missed])
    assert counts["second"].taken_earlier == 1 and counts["second"].fn == 1 and counts["second"].recall == 0.0
    keep = first.model_copy(update={"keep_matching": True})
    assert route_counts([keep, second], [taken, missed])["second"].fn == 2  # it could have reached `second`


def test_the_threshold_with_the_best_recall_at_the_precision_is_chosen() -> None:
    settings = make_settings(slack={"routes": [
        {"name": "urgent", "channel": "#u", "brands": ["Kestrel Mobile"], "min_urgency": 0.2, "min_precision": 0.75},
    ]})
    posts = [_post(1, 0.9, needs_reply="respond"), _post(2, 0.8, needs_reply="respond"),
             _post(3, 0.7, needs_reply="none"), _post(4, 0.6, needs_reply="respond"),
             _post(5, 0.5, needs_reply="none"), _post(6, 0.4, needs_reply="none"), _post(7, 0.3)]
    routes, [choice] = choose_thresholds(settings, posts)
    # at 0.6: 3 of 4 alerts need the team (0.75) and every one of the 3 is found
    assert (choice.threshold, choice.precision, choice.recall, choice.labelled) == (0.6, 0.75, 1.0, 6)
    assert routes[0].min_urgency == 0.6 and choice.before == 0.2


def test_an_unreachable_precision_keeps_the_threshold() -> None:
    settings = make_settings(slack={"routes": [
        {"name": "urgent", "channel": "#u", "min_urgency": 0.2, "min_precision": 0.9},
    ]})
    routes, [choice] = choose_thresholds(settings, [_post(1, 0.9, needs_reply="none"),
                                                    _post(2, 0.8, needs_reply="respond")])
    assert not choice.reached and routes[0].min_urgency == 0.2


CONFIG = """\
brands:
  - {name: Acme, query: acme}
slack:
  routes:
    # urgent first
    - {name: urgent, channel: "#u", min_urgency: 0.5}   # keep this comment
    - name: complaints  # block style
      channel: "#c"
      complaint: true
"""


def test_thresholds_are_rewritten_where_they_stand_and_nothing_else_changes() -> None:
    text = set_route_thresholds(CONFIG, {"urgent": 0.6125, "complaints": 0.3}, origin="c.yaml")
    assert text == CONFIG.replace("min_urgency: 0.5}", "min_urgency: 0.6125}").replace(
        "    - name: complaints  # block style\n", "    - name: complaints  # block style\n      min_urgency: 0.3\n")
    flow = set_route_thresholds(CONFIG.replace(", min_urgency: 0.5", ""), {"urgent": 0.7}, origin="c.yaml")
    assert '- {name: urgent, min_urgency: 0.7, channel: "#u"}   # keep this comment' in flow


def test_an_unknown_route_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no route named 'nope'"):
        set_route_thresholds(CONFIG, {"nope": 0.5}, origin="c.yaml")
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    write_route_thresholds(path, {"complaints": 0.45})
    assert load_settings(path).slack.routes[1].min_urgency == 0.45


def test_demo_labels_sit_under_explicit_ones() -> None:
    labels = parse_labels({"id": "x", "demo_label": "praise", "sentiment": "neutral"}, "s:1")
    assert labels == Labels(sentiment="neutral", complaint=False, category="none", needs_reply="thank", irony=False,
                            scam=False)
    with pytest.raises(StreamError, match="s:2: demo_label 'gossip'"):
        parse_labels({"demo_label": "gossip"}, "s:2")
    with pytest.raises(StreamError, match="complaint must be true or false"):
        parse_labels({"complaint": "yes"}, "s:3")
