"""The replay records whether each post reached a case or an incident, and the figures count those that did not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from core.settings import load_settings
from monitor.evaluate.figures import stream_figures, unplaced
from monitor.evaluate.labels import Labels
from monitor.evaluate.replay import PostResult, Replay, RouteRun
from tests.support.streams import write_config, write_stream

POST = PostResult(mention_id=1, external_id="1", network="x", brand="Acme", own=True, from_brand=False,
                  labels=Labels(), text="acme", followers=10, verified=False, sentiment="negative", complaint=True,
                  category="outage", level="high", urgency_score=0.6, language="en", needs_human=False,
                  matched_query=True)


def test_posts_that_need_the_team_or_tell_of_an_outage_and_reach_nothing_are_counted() -> None:
    posts = [replace(POST, labels=Labels(needs_reply="respond", category="outage"), placed=True),
             replace(POST, labels=Labels(needs_reply="respond", category="outage")),  # lost: no case, no incident
             replace(POST, labels=Labels(needs_reply="none", category="outage")),  # a notice, lost too
             replace(POST, labels=Labels(needs_reply="none"))]  # chatter: nobody needs to see it
    assert unplaced(posts) == {"need_action": 2, "need_action_unplaced": 1, "outage": 3, "outage_unplaced": 2}


def test_a_replayed_customer_post_is_placed_in_its_case(tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "stream.jsonl", [
        ("@acme my line is down again", "Acme", {"needs_reply": "respond", "category": "outage"}),
        ("@orbital my line is down again", "Orbital", {"needs_reply": "respond"}),  # a competitor: no case
        ("nothing to do with us at all", "Acme", {"needs_reply": "none"}),  # outside the brand query: no case
    ])
    settings = load_settings(write_config(tmp_path / "brandmon.yaml"))
    replay = Replay(settings, stream, progress=False, folder=tmp_path / "replay")
    run = replay.route()
    placed = {post.text: post.placed for post in run.posts}
    assert placed == {"@acme my line is down again": True, "@orbital my line is down again": False,
                      "nothing to do with us at all": False}
    figures = stream_figures(settings, run)
    assert figures.unplaced == {"need_action": 1, "need_action_unplaced": 0, "outage": 1, "outage_unplaced": 0}
    assert figures.as_dict()["unplaced"] == figures.unplaced


def test_thanks_that_joined_an_open_case_are_counted_apart_from_the_thank_you_list(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path / "brandmon.yaml"))
    thanks = Labels(needs_reply="thank")
    posts = [replace(POST, mention_id=1, labels=thanks, placed=True, opened="thank"),  # praise, thanked
             replace(POST, mention_id=2, labels=thanks, placed=True, opened="respond"),  # praise read as a complaint
             replace(POST, mention_id=3, labels=thanks, placed=True),  # "thanks, sorted" in an open case
             replace(POST, mention_id=4, labels=thanks)]  # reached nothing at all: a miss
    figures = stream_figures(settings, RouteRun(posts, slack_messages=0))
    assert (figures.thank.tp, figures.thank.fn) == (1, 3)
    assert (figures.thank_opening.tp, figures.thank_opening.fn) == (1, 2)
    assert figures.as_dict()["thank_opening"]["recall"] == round(1 / 3, 4)
