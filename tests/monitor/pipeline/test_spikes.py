"""Spike detection against an hour-of-week baseline: bursts, slow climbs, negative share, and the alert's story."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import select

from alerts.slack_loopback import SlackLoopback, message_as_text
from core.settings import SpikeSettings
from core.storage import Database
from core.storage.incident_tables import IncidentRow
from monitor.cli import main
from monitor.pipeline.route.spikes import baseline, check_spikes, detect, top_terms
from tests.conftest import make_settings
from tests.support.alerts import BRAND, Post, Wired, store
from tests.support.clock import Clock

EVAL = datetime(2026, 11, 19, 9, 0, tzinfo=UTC)  # a Thursday morning
SPIKES = SpikeSettings(channel="#care-spikes", min_posts=10)
NORMAL_TOPICS = ["bill question", "coverage map", "app login", "roaming bundle", "upgrade offer", "sim swap"]


def history(db: Database, *, weeks: int = 4, until: datetime = EVAL, every_min: int = 30) -> None:
    """Two posts an hour, a fifth of them negative, for `weeks` weeks up to `until`."""
    posts, at, i = [], until - timedelta(weeks=weeks), 0
    while at < until:
        posts.append(
            Post(
                f"kestrel {NORMAL_TOPICS[i % 6]} thing {i % 7}",
                at=at,
                complaint=False,
                category="none",
                sentiment="negative" if i % 5 == 0 else "neutral",
                urgency=0.1,
                level="low",
            )
        )
        at, i = at + timedelta(minutes=every_min), i + 1
    store(db, posts)


def burst(
    start: datetime,
    count: int,
    minutes: int = 60,
    *,
    text: str = "kestrel blackout no signal anywhere",
    sentiment: str = "negative",
) -> list[Post]:
    return [
        Post(
            f"{text} {i}", at=start + timedelta(seconds=minutes * 60 * i / count), sentiment=sentiment, followers=10 * i
        )
        for i in range(count)
    ]


def test_normal_volume_is_not_a_spike(sqlite_db: Database) -> None:
    history(sqlite_db)
    with sqlite_db.session() as session:
        expected, share, source = baseline(session, BRAND, EVAL - timedelta(hours=1), EVAL, 4)  # type: ignore[misc]
        assert expected == 2.0 and 0 < share < 0.5 and source == "same time of week, last 3 weeks"
        assert detect(session, SPIKES, BRAND, now=EVAL, exclude={"kestrel"}) is None


def test_a_sudden_burst_says_how_far_above_normal_and_why(sqlite_db: Database) -> None:
    history(sqlite_db)
    store(sqlite_db, burst(EVAL - timedelta(minutes=60), 40))
    with sqlite_db.session() as session:
        finding = detect(session, SPIKES, BRAND, now=EVAL, exclude={"kestrel"})
    assert finding is not None and "burst" in finding.kinds and "negative" in finding.kinds
    assert finding.count == 42 and finding.expected == 2.0 and round(finding.factor) == 21
    assert finding.top_terms[:3] == sorted(finding.top_terms[:3], key=lambda t: finding.top_terms.index(t))
    assert {"blackout", "signal", "anywhere"} <= set(finding.top_terms) and "kestrel" not in finding.top_terms
    assert finding.sentiments["negative"] >= 40 and len(finding.examples) == 3
    assert finding.examples[0]["author_followers"] == 390  # the widest-reaching negative post first


def test_a_slow_climb_is_caught_before_it_is_a_burst(sqlite_db: Database) -> None:
    history(sqlite_db)
    for hours_ago, extra in ((4, 1), (3, 2), (2, 3), (1, 4)):  # 3, 4, 5, 6 an hour against 2
        store(sqlite_db, burst(EVAL - timedelta(hours=hours_ago), extra, text="kestrel wifi calling broken"))
    with sqlite_db.session() as session:
        finding = detect(session, SPIKES, BRAND, now=EVAL, exclude={"kestrel"})
    assert finding is not None and finding.kinds == ["climb"]
    assert finding.hourly == [3, 4, 5, 6] and finding.count == 18 and finding.expected == 8.0


def test_a_jump_in_negative_share_alerts_at_normal_volume(sqlite_db: Database) -> None:
    history(sqlite_db, weeks=2, every_min=10)  # six an hour
    store(sqlite_db, burst(EVAL - timedelta(minutes=59), 8, minutes=59, text="kestrel rude staff in store"))
    with sqlite_db.session() as session:
        finding = detect(session, SPIKES, BRAND, now=EVAL, exclude={"kestrel"})
    assert finding is not None and finding.kinds == ["negative"]
    assert finding.negative_share >= 0.5 and finding.baseline_negative_share < 0.25


def test_little_history_falls_back_to_the_average_rate_and_none_says_nothing(sqlite_db: Database) -> None:
    with sqlite_db.session() as session:
        assert detect(session, SPIKES, BRAND, now=EVAL, exclude=set()) is None
    history(sqlite_db, weeks=0, until=EVAL - timedelta(hours=1))  # nothing at all yet
    store(
        sqlite_db,
        [Post("kestrel hello", at=EVAL - timedelta(days=3), sentiment="neutral")]
        + [
            Post(f"kestrel ok {i}", at=EVAL - timedelta(days=3) + timedelta(hours=2 * i), sentiment="neutral")
            for i in range(30)
        ]
        + burst(EVAL - timedelta(minutes=30), 25),
    )
    with sqlite_db.session() as session:
        finding = detect(session, SPIKES, BRAND, now=EVAL, exclude={"kestrel"})
    assert finding is not None and "burst" in finding.kinds and finding.baseline.startswith("average rate over")


def test_top_terms_prefer_words_new_to_the_window() -> None:
    now = ["router on fire again", "router fire smoke", "my router is on fire", "fire fire router"]
    before = ["router speed fine", "router update", "new router", "router lights", "router manual"]
    assert top_terms(now, before, exclude=set())[0] == "fire"


def test_a_spike_is_posted_once_kept_current_and_closed(sqlite_db: Database) -> None:
    settings = make_settings(
        slack={
            "messages_per_second": 1000,
            "routes": [],
            "spikes": {"channel": "#care-spikes", "min_posts": 10, "cooldown_s": 3600},
        }
    )
    history(sqlite_db)
    store(sqlite_db, burst(EVAL - timedelta(minutes=60), 30))
    clock = Clock(EVAL)
    with SlackLoopback() as slack:
        wired = Wired(sqlite_db, settings, slack, clock)
        assert check_spikes(sqlite_db, settings, now=clock.now) == 1
        wired.drain()
        store(sqlite_db, burst(EVAL, 30, minutes=15))
        clock.advance(minutes=15)
        assert check_spikes(sqlite_db, settings, now=clock.now) == 1
        wired.drain()
        (message,) = slack.all_messages()
        shown = message_as_text(message)
        assert message["edited"] and "*SPIKE* sudden burst, negative share jump · Kestrel Mobile" in shown
        assert "posts vs 2.0 normal" in shown and "`blackout`" in shown and "same time of week" in shown
        clock.advance(hours=3)
        assert check_spikes(sqlite_db, settings, now=clock.now) == 1  # back to normal: the message says so
        wired.drain()
        assert "back to normal" in message_as_text(slack.all_messages()[0]) and len(slack.all_messages()) == 1
        assert check_spikes(sqlite_db, settings, now=clock.now) == 0
    with sqlite_db.session() as session:
        (incident,) = session.execute(select(IncidentRow)).scalars().all()
    assert incident.kind == "spike" and incident.status == "closed"


def test_the_spikes_command_backtests_a_time(sqlite_db: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    history(sqlite_db)
    store(sqlite_db, burst(EVAL - timedelta(minutes=60), 40))
    config = tmp_path / "brandmon.yaml"
    config.write_text(
        f"database_url: {sqlite_db.url}\nbrands:\n  - {{name: {BRAND}, query: kestrel}}\n"
        "slack:\n  spikes: {channel: '#care-spikes'}\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    result = runner.invoke(main, ["alerts", "spikes", "-c", str(config), "--at", EVAL.isoformat()])
    assert result.exit_code == 0, result.output
    assert "Kestrel Mobile: SPIKE (burst, negative) 42 posts vs 2.0 normal" in result.output
    later = runner.invoke(main, ["alerts", "spikes", "-c", str(config), "--at", (EVAL + timedelta(days=1)).isoformat()])
    assert "Kestrel Mobile: normal" in later.output


def test_the_scheduler_runs_spike_checks_only_when_a_channel_is_set(sqlite_db: Database) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    from models.lexicon import LexiconClassifier
    from monitor.pipeline import Pipeline
    from monitor.scheduler import add_jobs

    for spikes, expected in (({"channel": "#care-spikes", "interval_s": 120}, True), ({}, False)):
        settings = make_settings(slack={"spikes": spikes})
        pipeline = Pipeline(settings, sqlite_db, classifier=LexiconClassifier(), sources={}, notifiers={})
        scheduler = BackgroundScheduler(timezone="UTC")
        assert ("spikes" in add_jobs(scheduler, pipeline)) is expected
        if expected:
            assert scheduler.get_job("spikes").trigger.interval.total_seconds() == 120
            assert pipeline.detect_spikes() == 0  # no history yet: nothing to say
