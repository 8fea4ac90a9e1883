"""Run the demo: replay the sample stream through every step and print what a social team would see."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import click
import yaml
from tqdm import tqdm

from alerts.loopback_console import describe
from alerts.slack_loopback import SlackLoopback
from core.settings import Secrets, Settings, parse_settings
from core.storage import Database
from core.storage.schema import utcnow
from core.textsafe import cut, for_terminal
from monitor.demo import DEMO_CONFIG, SAMPLE_STREAM
from monitor.pipeline import Pipeline
from monitor.queue.items import format_due, list_queue, minutes_left


def demo_settings(*, database_url: str, slack_base_url: str, classifier: str | None = None,
                  stream: Path = SAMPLE_STREAM) -> Settings:
    """Return the demo's settings pointed at a database, a loopback Slack and the sample stream."""
    data: dict[str, Any] = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    for source in data["sources"]:
        source["options"]["path"] = str(stream)
    data["slack"]["base_url"] = slack_base_url
    if classifier:
        data["classifier"]["kind"] = classifier
    return parse_settings(data, origin=str(DEMO_CONFIG), database_url=database_url)


def run_demo(*, workdir: Path | None = None, classifier: str | None = None, show_alerts: bool = True,
             queue_rows: int = 25) -> dict[str, int]:
    """Run the loop to the end of the sample stream; return counts of what each step produced."""
    printed: list[str] = []

    def show(channel: str, message: dict[str, Any]) -> None:
        text = "\n" + describe(channel, message)
        printed.append(text)
        if show_alerts:
            tqdm.write(text)

    tmp = tempfile.TemporaryDirectory(prefix="brandmon-demo-") if workdir is None else None
    base = Path(tmp.name) if tmp else workdir
    assert base is not None
    base.mkdir(parents=True, exist_ok=True)
    try:
        with SlackLoopback(on_message=show) as slack:
            settings = demo_settings(database_url=f"sqlite:///{base / 'demo.db'}", slack_base_url=slack.base_url,
                                     classifier=classifier)
            db = Database(settings.database_url)
            db.migrate()
            pipeline = Pipeline.from_settings(settings, db, secrets=Secrets())
            click.echo(f"brandmon demo: database {db.redacted_url()}")
            click.echo(f"brandmon demo: posts scored by {pipeline.classifier.describe()}")
            click.echo(f"brandmon demo: Slack replaced by a loopback server at {slack.base_url}")
            total = sum(1 for line in SAMPLE_STREAM.open(encoding="utf-8") if line.strip())
            counts = {"stored": 0, "classified": 0, "routed": 0, "delivered": 0}
            with tqdm(total=total, desc="replaying", unit="post") as bar:
                active = set(pipeline.sources)
                while active:
                    for name in sorted(active):
                        outcome = pipeline.poll(name)
                        if outcome.error:
                            raise click.ClickException(f"source {name}: {outcome.error}")
                        counts["stored"] += outcome.stored
                        bar.update(outcome.fetched)
                        if outcome.exhausted:
                            active.discard(name)
                    classified, routed, delivered = pipeline.downstream()
                    counts["classified"] += classified
                    counts["routed"] += routed
                    counts["delivered"] += delivered
            while (sent := pipeline.deliver()) > 0:
                counts["delivered"] += sent
            counts["slack_messages"] = len(printed)
            _print_queue(db, limit=queue_rows)
            click.echo(
                f"\nbrandmon demo: {counts['stored']} posts stored, {counts['classified']} classified, "
                f"{counts['delivered']} Slack alerts delivered, queue printed above."
            )
            db.dispose()
            return counts
    finally:
        if tmp is not None:
            tmp.cleanup()


def _print_queue(db: Database, *, limit: int) -> None:
    entries = list_queue(db, limit=limit)
    now = utcnow()
    click.echo(f"\nReply queue (most urgent first, then earliest deadline; {limit} shown at most)")
    click.echo(f"{'#':>4}  {'level':8} {'category':10} {'due in':>10}  {'kind':7} {'author':22} post")
    for entry in entries:
        due = format_due(minutes_left(entry.item.first_response_due, now))
        author = cut(for_terminal("@" + entry.mention.author_handle), 22)
        text = cut(for_terminal(" ".join(entry.mention.text.split())), 70)
        click.echo(f"{entry.item.id:>4}  {entry.item.urgency_level:8} {entry.item.urgency_category:10} "
                   f"{due:>10}  {entry.item.kind:7} {author:22} {text}")
