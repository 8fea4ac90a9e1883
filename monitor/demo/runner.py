"""Run the demo: a week of posts replayed as if live, ending now, with a team working the queue, then the digest.

The sample stream is rebased so that its last post is made at the moment the demo starts. A simulated clock
walks through the week: the sources read each post on the first poll after it is made, the pipeline scores,
routes and alerts (a loopback Slack prints each message), and the demo's three responders (`monitor.demo.team`)
answer part of the queue through the reply path a person uses. At the end the clock is the real "now", so every
deadline is real: the items nobody reached are breached, the fresh ones are due. The demo then writes each own
brand's weekly digest, and prints where it is and the `brandmon serve` command that opens the queue.
"""

from __future__ import annotations

import math
import shlex
import shutil
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import yaml
from tqdm import tqdm

from alerts.loopback_console import describe
from alerts.slack_loopback import SlackLoopback
from core.durations import format_minutes
from core.query import compile_matcher
from core.settings import Secrets, Settings, parse_settings
from core.storage import Database
from core.storage.schema import utcnow
from core.textsafe import cut, for_terminal
from monitor.demo import DEMO_CONFIG, SAMPLE_STREAM
from monitor.demo.network import DemoNetwork, DemoSource, SimClock
from monitor.demo.team import TEAM, Team
from monitor.digest.data import load_queue
from monitor.digest.figures import response
from monitor.digest.job import make_digest
from monitor.digest.weeks import IsoWeek
from monitor.pipeline import Pipeline, build_classifier, build_notifiers
from monitor.queue.items import format_due, list_queue, minutes_left
from monitor.queue.replies import ReplyNotifier

#: How often the demo's sources poll, in simulated seconds: a post is read on the first poll after it is made.
POLL_S = 120
#: The file in a demo folder that marks it as one, so a new run may clear it.
MARKER = ".brandmon-demo"
SERVE_CONFIG = "brandmon-demo.yaml"


def demo_settings(*, database_url: str, slack_base_url: str, classifier: str | None = None,
                  stream: Path = SAMPLE_STREAM, out_dir: Path | None = None) -> Settings:
    """Return the demo's settings pointed at a database, a Slack base URL and the sample stream."""
    return parse_settings(_demo_data(slack_base_url=slack_base_url, classifier=classifier, stream=stream,
                                     out_dir=out_dir), origin=str(DEMO_CONFIG), database_url=database_url)


def _demo_data(*, slack_base_url: str, classifier: str | None, stream: Path, out_dir: Path | None) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    for source in data["sources"]:
        source["options"]["path"] = str(stream)
    data["slack"]["base_url"] = slack_base_url
    if classifier:
        data["classifier"]["kind"] = classifier
    if out_dir is not None:
        data.setdefault("digest", {})["out_dir"] = str(out_dir)
    return data


@dataclass
class DemoResult:
    """What a demo run produced and where it left it."""

    workdir: Path
    database_url: str
    #: The real time the stream's last post was made at: the moment the demo started.
    now: datetime
    counts: dict[str, int] = field(default_factory=dict)
    digests: list[Path] = field(default_factory=list)
    config_path: Path | None = None
    serve_command: str = ""


def _prepare(workdir: Path) -> Path:
    """Return the demo folder, emptied of an earlier demo's files; refuse a folder that holds anything else."""
    workdir = workdir.expanduser().resolve()
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).is_file():
            raise click.ClickException(f"{workdir} is not empty and holds no earlier demo; choose another --workdir")
        for name in ("demo.db", "demo.db-wal", "demo.db-shm", SERVE_CONFIG, "slack-loopback.jsonl"):
            (workdir / name).unlink(missing_ok=True)
        shutil.rmtree(workdir / "digests", ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("made by `brandmon demo`; a new run clears this folder\n", encoding="utf-8")
    return workdir


def run_demo(*, workdir: Path = Path("brandmon-demo"), classifier: str | None = None, show_alerts: bool = True,
             queue_rows: int = 25, now: datetime | None = None) -> DemoResult:
    """Replay the demo week so it ends `now` (default: the real now), let the team work it, write the digests."""
    base = _prepare(workdir)
    printed: list[str] = []

    def show(channel: str, message: dict[str, Any]) -> None:
        printed.append(channel)
        if show_alerts:
            tqdm.write("\n" + describe(channel, message))

    def say(line: str) -> None:
        if show_alerts:
            tqdm.write(line)

    end = now or utcnow()
    database_url = f"sqlite:///{base / 'demo.db'}"
    with SlackLoopback(on_message=show) as slack:
        settings = demo_settings(database_url=database_url, slack_base_url=slack.base_url, classifier=classifier,
                                 out_dir=base / "digests")
        db = Database(settings.database_url)
        db.migrate()
        clock = SimClock(end)
        network = DemoNetwork(SAMPLE_STREAM, end=end, clock=clock)
        arrivals = network.arrivals()
        clock.now = arrivals[0] - timedelta(seconds=POLL_S)
        pipeline = _pipeline(settings, db, network, clock)
        team = Team(db, settings, network, clock=clock, deliver=pipeline.deliver, say=say)
        team.add_users()
        click.echo(f"brandmon demo: database {db.redacted_url()}")
        click.echo(f"brandmon demo: posts scored by {pipeline.classifier.describe()}")
        click.echo(f"brandmon demo: Slack replaced by a loopback server at {slack.base_url}")
        click.echo(f"brandmon demo: {len(arrivals)} posts from {_local(arrivals[0], settings)} to now "
                   f"({_local(end, settings)}), answered by {', '.join(p.name for p in TEAM)}")
        counts = _replay(pipeline, team, arrivals, clock, end)
        counts["slack_messages"] = len(printed)
        digests = _digests(settings, db, network, end)
        while pipeline.deliver() > 0:  # the digest summaries
            pass
        counts.update(team.stats)
        _print_queue(db, limit=queue_rows)
        config_path = _write_serve_config(base, settings, database_url)
        serve = f"brandmon serve -c {shlex.quote(str(config_path))}"
        _print_summary(db, settings, network, counts, end)
        for path in digests:
            click.echo(f"brandmon demo: weekly digest {path} (figures in {path.with_suffix('.json').name})")
        click.echo("brandmon demo: open the reply queue on the demo database (add yourself as a user first):")
        click.echo(f"    brandmon users add -c {shlex.quote(str(config_path))} YOUR_NAME --role admin")
        click.echo(f"    {serve}")
        db.dispose()
    return DemoResult(workdir=base, database_url=database_url, now=end, counts=counts, digests=digests,
                      config_path=config_path, serve_command=serve)


def _pipeline(settings: Settings, db: Database, network: DemoNetwork, clock: SimClock) -> Pipeline:
    """Build the pipeline over the demo network's sources, on the simulated clock."""
    sources = {config.name: DemoSource(name=config.name, brand=config.brand, options=config.options, demo=network,
                                       accounts=settings.brand(config.brand).handles)
               for config in settings.sources if config.enabled}
    notifiers = build_notifiers(settings, Secrets())
    notifiers["reply"] = ReplyNotifier(db, sources, clock=clock)
    matchers = {brand.name: compile_matcher(brand.query) for brand in settings.brands}
    return Pipeline(settings, db, classifier=build_classifier(settings), sources=sources, notifiers=notifiers,
                    matchers=matchers, clock=clock)


def _replay(pipeline: Pipeline, team: Team, arrivals: list[datetime], clock: SimClock,
            end: datetime) -> dict[str, int]:
    """Walk the clock through the week: polls when posts are made, the team's actions in between."""
    counts = {"stored": 0, "classified": 0, "routed": 0, "delivered": 0}
    read = 0
    with tqdm(total=len(arrivals), desc="replaying the week", unit="post") as bar:
        while True:
            next_post = arrivals[read] if read < len(arrivals) else None
            next_action = team.next_at()
            if next_post is None and (next_action is None or next_action > end):
                break
            if next_action is not None and (next_post is None or next_action < next_post):
                team.run_until(next_action)
                continue
            assert next_post is not None
            tick = min(end, datetime.fromtimestamp(math.ceil(next_post.timestamp() / POLL_S) * POLL_S, end.tzinfo))
            team.run_until(tick)
            clock.set(tick)
            fresh = sum(1 for when in arrivals[read:] if when <= tick)
            read += fresh
            _tick(pipeline, counts)
            team.plan_new()
            bar.update(fresh)
    clock.set(end)
    _tick(pipeline, counts)  # the brand's last replies
    return counts


def _tick(pipeline: Pipeline, counts: dict[str, int]) -> None:
    """Poll the sources that have something new, then classify, route and deliver what they stored."""
    for name, source in sorted(pipeline.sources.items()):
        if isinstance(source, DemoSource) and not source.has_news():
            continue  # an empty poll of the demo network would store nothing; a quick demo skips it
        outcome = pipeline.poll(name)
        if outcome.error:
            raise click.ClickException(f"source {name}: {outcome.error}")
        counts["stored"] += outcome.stored
    classified = pipeline.classify()
    routed = pipeline.route() if classified else 0
    counts["classified"] += classified
    counts["routed"] += routed
    counts["delivered"] += pipeline.deliver()


def _weeks(settings: Settings, network: DemoNetwork) -> list[IsoWeek]:
    """Return the ISO weeks (in the digest's time zone) that hold at least a day's share of the demo's posts."""
    zone = ZoneInfo(settings.digest.timezone)
    per_week = Counter(when.astimezone(zone).date().isocalendar()[:2] for when in network.arrivals())
    total = sum(per_week.values())
    return [IsoWeek(year, week, settings.digest.timezone) for (year, week), n in sorted(per_week.items())
            if n * 7 >= total]


def _digests(settings: Settings, db: Database, network: DemoNetwork, end: datetime) -> list[Path]:
    """Write each own brand's digest for the weeks the demo covers; return the HTML paths."""
    written = []
    for brand in settings.brands:
        if not brand.own:
            continue
        for week in _weeks(settings, network):
            result = make_digest(db, brand=brand.name, week=week, now=end, options=settings.digest,
                                 competitors=brand.competitors,
                                 brand_words=[h for n in brand.handles for h in brand.accounts(n)],
                                 slack_channel=settings.digest.slack_channel, cases=settings.cases,
                                 sla=settings.sla)
            written.append(result.html_path)
    return written


def _local(moment: datetime, settings: Settings) -> str:
    return moment.astimezone(ZoneInfo(settings.sla.timezone)).strftime("%a %d %b %H:%M %Z")


def _write_serve_config(base: Path, settings: Settings, database_url: str) -> Path:
    """Write the config `brandmon serve` opens the demo database with (Slack as the console loopback)."""
    data = _demo_data(slack_base_url="loopback", classifier=settings.classifier.kind, stream=SAMPLE_STREAM,
                      out_dir=base / "digests")
    data["database_url"] = database_url
    data["slack"]["loopback_log"] = str(base / "slack-loopback.jsonl")
    path = base / SERVE_CONFIG
    path.write_text("# Written by `brandmon demo`: the demo's settings on its database.\n"
                    + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _print_summary(db: Database, settings: Settings, network: DemoNetwork, counts: dict[str, int],
                   end: datetime) -> None:
    start = min(network.arrivals())
    click.echo(
        f"\nbrandmon demo: {counts['stored']} posts stored, {counts['classified']} classified, "
        f"{counts['slack_messages']} Slack messages; the team posted {counts.get('replies', 0)} replies and "
        f"{counts.get('thank_yous', 0)} thank-yous through the sources, answered {counts.get('answered_in_app', 0)} "
        f"in the X app, resolved {counts.get('resolved', 0)} and marked {counts.get('not_relevant', 0)} not "
        "relevant")
    for brand in settings.brands:
        if not brand.own:
            continue
        figures = response(load_queue(db, brand.name, start, end + timedelta(seconds=1)), now=utcnow())
        p50, p90 = format_minutes(figures.p50_min), format_minutes(figures.p90_min)
        click.echo(f"brandmon demo: {for_terminal(brand.name)}: {figures.items} queue items, {figures.answered} "
                   f"answered (first response p50 {p50}, p90 {p90}), {figures.breached} of {figures.due} due "
                   f"breached their SLA, {figures.resolved} resolved, {figures.open} still open")


def _print_queue(db: Database, *, limit: int) -> None:
    entries = list_queue(db, limit=limit)
    now = utcnow()
    click.echo(f"\nReply queue now (most urgent first, then earliest deadline; {limit} shown at most)")
    click.echo(f"{'#':>4}  {'level':8} {'category':14} {'due in':>10}  {'status':8} {'author':26} post")
    for entry in entries:
        due = format_due(minutes_left(entry.item.first_response_due, now))
        author = cut(for_terminal("@" + entry.mention.author_handle), 26)
        text = cut(for_terminal(" ".join(entry.mention.text.split())), 60)
        category = entry.item.category or entry.item.urgency_category  # a brand's own by name; NULL: as stored
        click.echo(f"{entry.item.id:>4}  {entry.item.urgency_level:8} {category:14} "
                   f"{due:>10}  {entry.item.status:8} {author:26} {text}")
