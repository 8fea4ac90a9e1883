"""`brandmon alerts ...`: send a test alert to every channel, list incidents, check spikes, retry, listen."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from core.textsafe import cut, for_terminal
from monitor.cli.common import config_options, fail, load

SAMPLE_TEXT = (
    "This is a brandmon test alert. A post that says <!channel> or <https://evil.example|your bank> "
    "shows as plain text, & nobody is pinged."
)


def sample_payload(channel: str, rule: str, now: datetime) -> dict[str, Any]:
    """Return a realistic alert payload for a test message to `channel`."""
    return {
        "type": "alert",
        "rule": rule,
        "brand": "brandmon test",
        "network": "x",
        "external_id": "0",
        "url": "https://x.com/brandmon/status/0",
        "author_handle": "brandmon_test",
        "author_name": "brandmon test",
        "author_followers": 1234,
        "author_verified": False,
        "text": SAMPLE_TEXT,
        "created_at": now.isoformat(),
        "language": "en",
        "sentiment": "negative",
        "sentiment_probs": {"negative": 0.9},
        "complaint": True,
        "complaint_prob": 0.9,
        "severity": 3,
        "urgency_score": 0.8,
        "urgency_level": "critical",
        "urgency_category": "outage",
        "needs_human": False,
        "needs_human_reason": None,
        "explanation": {"urgency": ["test"]},
        "model": "none (test message)",
        "queue_item_id": None,
        "first_response_due": now.isoformat(),
    }


@click.group()
def alerts() -> None:
    """Slack alerts: test channels, incidents, spikes, failed deliveries, Socket Mode."""


@alerts.command("test")
@config_options
@click.option("--channel", "only", default=None, help="Send to this channel only.")
def test_alert(config_path: Path, database_url: str | None, only: str | None) -> None:
    """Send one sample alert to each configured channel, now, and say what Slack answered."""
    from alerts.base import DeliveryError
    from alerts.slack import SlackNotifier
    from core.domain import Delivery
    from core.settings import ConfigError, Secrets, load_settings

    try:
        settings = load_settings(config_path, database_url=database_url)
    except ConfigError as exc:
        fail(str(exc))
    secrets = Secrets.from_env()
    token = secrets.slack_bot_token.get_secret_value() if secrets.slack_bot_token else None
    if token is None:
        click.echo("brandmon: warning: BRANDMON_SLACK_BOT_TOKEN is not set; Slack will refuse the call", err=True)
    channels: dict[str, str] = {}
    for route in settings.slack.routes:
        channels.setdefault(route.channel, route.name)
    if settings.slack.spikes.channel:
        channels.setdefault(settings.slack.spikes.channel, "spike")
    if only is not None:
        channels = {only: channels.get(only, "manual")}
    if not channels:
        fail(f"{config_path}: no Slack channel is configured (slack.routes)")
    notifier = SlackNotifier(token=token, base_url=settings.slack.base_url)
    now = datetime.now(UTC)
    failed = 0
    for i, (channel, rule) in enumerate(channels.items()):
        delivery = Delivery(
            id=0,
            kind="slack",
            channel=channel,
            dedupe_key=f"slack:test:{now.timestamp():.0f}:{i}",
            payload=sample_payload(channel, rule, now),
            attempts=1,
        )
        try:
            result = notifier.send(delivery)
        except DeliveryError as exc:
            failed += 1
            click.echo(f"FAILED {for_terminal(channel)} (rule {for_terminal(rule)}): {for_terminal(str(exc))}")
            continue
        click.echo(
            f"ok     {for_terminal(channel)} (rule {for_terminal(rule)}): message {result.get('ts')} "
            f"in {result.get('channel')}"
        )
    if failed:
        sys.exit(1)


@alerts.command("incidents")
@config_options
@click.option("--limit", default=20, show_default=True)
def list_incidents(config_path: Path, database_url: str | None, limit: int) -> None:
    """List the newest incidents: kind, channel, posts, thread replies, status."""
    from sqlalchemy import select

    from core.storage.incident_tables import IncidentRow

    _, db = load(config_path, database_url)
    with db.session() as session:
        rows = session.execute(select(IncidentRow).order_by(IncidentRow.id.desc()).limit(limit)).scalars().all()
    click.echo(
        f"{'#':>5}  {'kind':7} {'status':9} {'channel':18} {'posts':>5} {'thread':>6}  first post       category"
    )
    for row in rows:
        click.echo(
            f"{row.id:>5}  {row.kind:7} {row.status:9} {cut(for_terminal(row.channel), 18):18} "
            f"{row.member_count:>5} {row.thread_replies:>6}  {row.first_post_at:%Y-%m-%d %H:%M} "
            f"{for_terminal(row.category)}"
        )


@alerts.command("spikes")
@config_options
@click.option("--at", "at", default=None, help="Check as of this ISO time instead of now (a backtest).")
def spikes(config_path: Path, database_url: str | None, at: str | None) -> None:
    """Say whether each brand is spiking now (or at --at), without sending anything."""
    from monitor.pipeline.route.spikes import _brand_words, detect

    settings, db = load(config_path, database_url)
    try:
        when = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else datetime.now(UTC)
    except ValueError:
        fail(f"--at {at!r} is not an ISO 8601 time")
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    config = settings.slack.spikes
    brands = config.brands or [b.name for b in settings.brands if b.own]
    with db.session() as session:
        for brand in brands:
            finding = detect(session, config, brand, now=when, exclude=_brand_words(settings, brand))
            if finding is None:
                click.echo(f"{for_terminal(brand)}: normal at {when.isoformat()}")
                continue
            click.echo(
                f"{for_terminal(brand)}: SPIKE ({', '.join(finding.kinds)}) {finding.count} posts vs "
                f"{finding.expected:.1f} normal ({finding.factor:.1f}x; {finding.baseline}); negative "
                f"{finding.negative_share:.0%} vs {finding.baseline_negative_share:.0%}; top terms: "
                f"{for_terminal(', '.join(finding.top_terms)) or 'none'}"
            )


@alerts.command("retry")
@config_options
def retry(config_path: Path, database_url: str | None) -> None:
    """Put Slack messages that were given up on ("dead") back in the outbox, once the cause is fixed."""
    from monitor.pipeline.batches import requeue_dead

    _, db = load(config_path, database_url)
    with db.session() as session:  # a dead summary's lines go back as that one summary, not a message each
        count = requeue_dead(session, kind="slack", now=datetime.now(UTC))
    click.echo(f"{count} Slack messages queued again")


@alerts.command("log")
@config_options
@click.option("--channel", default=None, help="Only this channel.")
@click.option("--last", type=int, default=None, help="Only the newest N messages.")
def log_cmd(config_path: Path, database_url: str | None, channel: str | None, last: int | None) -> None:
    """Show the messages the loopback Slack (`slack.base_url: loopback`) printed, as Slack would show them."""
    from alerts.loopback_console import describe, read_log
    from core.settings import ConfigError, load_settings

    try:
        settings = load_settings(config_path, database_url=database_url)
    except ConfigError as exc:
        fail(str(exc))
    log_path = Path(settings.slack.loopback_log)
    kept = [(at, name, message) for at, name, message in read_log(log_path) if channel in (None, name)]
    for at, name, message in kept[-last:] if last else kept:
        click.echo(f"\n{at[:19].replace('T', ' ')}Z {describe(name, message)}")
    click.echo(f"{len(kept)} messages kept in {log_path}" + ("" if settings.slack.base_url == "loopback" else
               " (slack.base_url is not loopback: real Slack messages are not kept here)"))


@alerts.command("listen")
@config_options
def listen(config_path: Path, database_url: str | None) -> None:
    """Take button clicks over Socket Mode (needs BRANDMON_SLACK_APP_TOKEN) until Ctrl-C."""
    import threading

    from slack_sdk.socket_mode import SocketModeClient
    from slack_sdk.web import WebClient

    from core.settings import Secrets
    from monitor.queue.categories import brand_categories
    from monitor.web.slack_actions import ActionHandler, socket_mode_listener

    settings, db = load(config_path, database_url)
    secrets = Secrets.from_env()
    app_token = secrets.slack_app_token
    if app_token is None:
        fail("Socket Mode needs an app-level token in BRANDMON_SLACK_APP_TOKEN")
        return
    bot = secrets.slack_bot_token.get_secret_value() if secrets.slack_bot_token else None
    client = SocketModeClient(
        app_token=app_token.get_secret_value(),
        web_client=WebClient(token=bot, base_url=settings.slack.base_url),
    )
    handler = ActionHandler(db, settings.slack, lease_min=settings.queue.lease_min, sla=settings.sla,
                            categories=brand_categories(settings.brands))
    client.socket_mode_request_listeners.append(socket_mode_listener(handler))
    client.connect()
    click.echo("brandmon: listening for Slack button clicks over Socket Mode; Ctrl-C stops")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        client.close()


def register(main: click.Group) -> None:
    """Add `brandmon alerts` to `main`."""
    main.add_command(alerts)
