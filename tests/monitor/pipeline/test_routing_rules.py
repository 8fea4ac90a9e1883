"""Routing rules from the YAML config, first match wins, quiet hours per channel, cooldown per rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from alerts.slack_loopback import SlackLoopback
from core.settings import ConfigError, QuietHours, RouteRule
from core.storage import Database
from core.storage.schema import AlertRow, OutboxRow
from monitor.pipeline.route.rules import RoutingFacts, matching_rules, quiet_decision, quiet_until, rule_matches
from tests.conftest import make_settings
from tests.support.alerts import T0, Post, Wired, store
from tests.support.clock import Clock


def facts(**kw: object) -> RoutingFacts:
    base: dict[str, object] = {
        "brand": "Kestrel Mobile",
        "network": "x",
        "sentiment": "negative",
        "complaint": True,
        "urgency_category": "outage",
        "urgency_score": 0.6,
        "author_followers": 1000,
        "author_verified": False,
        "language": "en",
        "needs_human": False,
        "text": "down",
    }
    base.update(kw)
    return RoutingFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("condition", "matching", "other"),
    [
        ({"brands": ["Kestrel Mobile"]}, {}, {"brand": "Orbital"}),
        ({"networks": ["reddit"]}, {"network": "reddit"}, {}),
        ({"sentiments": ["negative"]}, {}, {"sentiment": "positive"}),
        ({"complaint": False}, {"complaint": False}, {}),
        ({"urgency_categories": ["safety"]}, {"urgency_category": "safety"}, {}),
        ({"min_urgency": 0.7}, {"urgency_score": 0.7}, {}),
        ({"min_followers": 50_000}, {"author_followers": 50_000}, {"author_followers": None}),
        ({"verified_only": True}, {"author_verified": True}, {}),
        ({"languages": ["es"]}, {"language": "es"}, {"language": None}),
    ],
)
def test_each_condition_filters(
    condition: dict[str, object], matching: dict[str, object], other: dict[str, object]
) -> None:
    rule = RouteRule(name="r", channel="#c", **condition)  # type: ignore[arg-type]
    assert rule_matches(rule, facts(**matching))
    assert not rule_matches(rule, facts(**other))


def test_first_matching_rule_wins_unless_it_keeps_matching() -> None:
    urgent = RouteRule(name="urgent", channel="#urgent", min_urgency=0.5)
    vip = RouteRule(name="vip", channel="#vip", min_followers=500)
    assert [r.name for r in matching_rules([urgent, vip], facts())] == ["urgent"]
    keep = urgent.model_copy(update={"keep_matching": True})
    assert [r.name for r in matching_rules([keep, vip], facts())] == ["urgent", "vip"]
    assert [r.name for r in matching_rules([urgent, vip], facts(urgency_score=0.1))] == ["vip"]


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"slack.quiet_hours\[0\].start"):
        make_settings(slack={"quiet_hours": [{"channel": "#a", "start": "25:00", "end": "07:00"}]})
    with pytest.raises(ConfigError, match="duplicate route 'a'"):
        make_settings(slack={"routes": [{"name": "a", "channel": "#a"}, {"name": "a", "channel": "#b"}]})
    with pytest.raises(ConfigError, match="unknown time zone"):
        make_settings(
            slack={"quiet_hours": [{"channel": "#a", "start": "22:00", "end": "07:00", "timezone": "Mars/X"}]}
        )


def test_quiet_hours_cross_midnight_in_the_channels_time_zone() -> None:
    night = QuietHours(channel="#a", start="22:00", end="07:00", timezone="Europe/London", days=[4])  # Friday nights
    friday_late = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)  # 23:30 in London (GMT)
    assert quiet_until(night, friday_late) == datetime(2026, 11, 21, 7, 0, tzinfo=UTC)
    assert quiet_until(night, friday_late + timedelta(hours=5)) == datetime(2026, 11, 21, 7, 0, tzinfo=UTC)
    assert quiet_until(night, friday_late + timedelta(hours=8)) is None
    assert quiet_until(night, friday_late - timedelta(days=1)) is None  # Thursday night is not quiet
    summer = datetime(2026, 7, 3, 21, 30, tzinfo=UTC)  # 22:30 in London (BST)
    assert quiet_until(night, summer) == datetime(2026, 7, 4, 6, 0, tzinfo=UTC)


def test_only_urgency_above_the_threshold_breaks_quiet_hours() -> None:
    settings = make_settings(
        slack={"quiet_hours": [{"channel": "#a", "start": "22:00", "end": "07:00", "break_urgency": 0.8}]}
    )
    night = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
    held = quiet_decision(settings.slack, "#a", night, 0.5)
    assert held.hold_until == datetime(2026, 11, 21, 7, 0, tzinfo=UTC) and not held.drop
    assert quiet_decision(settings.slack, "#a", night, 0.8).hold_until is None
    assert quiet_decision(settings.slack, "#other", night, 0.1).hold_until is None




def test_quiet_hours_hold_alerts_until_morning_and_urgent_posts_go_now(
    sqlite_db: Database, slack: SlackLoopback
) -> None:
    night = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
    settings = make_settings(
        slack={
            "messages_per_second": 1000,
            "routes": [{"name": "all", "channel": "#care"}],
            "quiet_hours": [{"channel": "#care", "start": "22:00", "end": "07:00"}],
        }
    )
    clock = Clock(night)
    wired = Wired(sqlite_db, settings, slack, clock)
    store(
        sqlite_db,
        [
            Post("kestrel charged me twice this month", at=night, category="billing", urgency=0.4),
            Post(
                "kestrel router caught fire in the hallway", at=night, category="safety", urgency=0.95, level="critical"
            ),
        ],
    )
    wired.route()
    wired.drain()
    (sent,) = slack.all_messages()
    assert "CRITICAL" in sent["blocks"][0]["text"]["text"]
    clock.now = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)
    wired.drain()
    assert len(slack.all_messages()) == 2  # held, not lost


def test_quiet_hours_can_drop_instead_and_say_why(sqlite_db: Database, slack: SlackLoopback) -> None:
    night = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
    settings = make_settings(
        slack={
            "routes": [{"name": "all", "channel": "#care"}],
            "quiet_hours": [{"channel": "#care", "start": "22:00", "end": "07:00", "action": "drop"}],
        }
    )
    wired = Wired(sqlite_db, settings, slack, Clock(night))
    store(sqlite_db, [Post("kestrel charged me twice this month", at=night, category="billing", urgency=0.4)])
    wired.route()
    with sqlite_db.session() as session:
        alert = session.execute(select(AlertRow)).scalar_one()
        assert session.execute(select(OutboxRow)).first() is None
    assert alert.outbox_id is None and "quiet hours in #care" in (alert.suppressed_reason or "")


def test_a_rule_cools_down_but_critical_posts_and_growing_incidents_still_go(
    sqlite_db: Database, slack: SlackLoopback
) -> None:
    settings = make_settings(
        slack={"messages_per_second": 1000, "routes": [{"name": "all", "channel": "#care", "cooldown_s": 600}]}
    )
    clock = Clock(T0)
    wired = Wired(sqlite_db, settings, slack, clock)
    store(
        sqlite_db,
        [
            Post("kestrel charged me twice this month", category="billing"),
            Post("my kestrel parcel never arrived at all", category="delivery"),
            Post("kestrel charged me twice this month", category="billing"),
            Post("my kestrel phone overheated and burned me", category="safety", level="critical"),
        ],
    )
    wired.route()
    wired.drain()
    with sqlite_db.session() as session:
        reasons = [a.suppressed_reason for a in session.execute(select(AlertRow).order_by(AlertRow.id)).scalars()]
    assert reasons[0] is None and "cooling down" in (reasons[1] or "")
    assert reasons[2] is None and reasons[3] is None  # grows the first incident (a thread reply); critical
    first, critical = slack.top_level()
    assert len(slack.thread(first["ts"])) == 1 and "*2 posts*" in first["blocks"][0]["text"]["text"]
    assert "CRITICAL" in critical["blocks"][0]["text"]["text"]
    clock.advance(seconds=601)
    store(
        sqlite_db,
        [Post("kestrel roaming charges in spain are wrong", category="billing", at=T0 + timedelta(minutes=11))],
    )
    wired.route()
    wired.drain()
    assert len(slack.top_level()) == 3
