"""Reply-queue commands: `brandmon queue ...`, `brandmon serve`, `brandmon users add`."""

from __future__ import annotations

import getpass
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path

import click

from core.settings import Settings
from core.storage import Database
from core.storage.schema import ReplyRow, utcnow
from core.textsafe import cut, for_terminal
from models.base import SENTIMENTS, URGENCY_CATEGORIES
from monitor.cli import language_cmds as lang
from monitor.cli.common import config_options, fail, load, with_loopback_slack
from monitor.cli.queue_show import print_item
from monitor.queue.categories import brand_categories
from monitor.queue.context import mark_seen
from monitor.queue.items import (
    OPEN_STATUSES,
    QueueError,
    audit_trail,
    claim,
    count_queue,
    format_due,
    get_entry,
    list_queue,
    set_status,
    wake_snoozed,
)
from monitor.queue.languages import set_user_languages
from monitor.queue.reclassify import reclassify
from monitor.queue.replies import (
    check_reply,
    queue_reply,
    render_saved_reply,
)
from monitor.queue.sla import sla_status
from monitor.queue.translate import ReplyTranslation, queue_translated_reply

VIEWS = {"open": OPEN_STATUSES, "mine": ("claimed", "replied"), "replied": ("replied",),
         "closed": ("resolved", "not_relevant"), "all": ("new", "claimed", "replied", "resolved", "not_relevant",
                                                         "snoozed")}
_DURATION = re.compile(r"^(\d+)([mhd])$")


def actor_option(func: click.decorators.FC) -> click.decorators.FC:
    """Add --as: who is acting (recorded in the audit log)."""
    return click.option("--as", "actor", envvar="BRANDMON_ACTOR", default=getpass.getuser, show_default="login name",
                        help="Who is acting; recorded in the audit log (env BRANDMON_ACTOR).")(func)


def _acting(db: Database, actor: str) -> str:
    """Return `actor` if it names an active brandmon user (`brandmon users add`); refuse any other name."""
    from sqlalchemy import select

    from core.storage.queue_tables import UserRow

    with db.session() as session:
        active = session.execute(select(UserRow.active).where(UserRow.username == actor.strip())).scalar()
    if not active:
        fail(f"--as: {for_terminal(actor)!r} is not an active brandmon user; the audit log records only real users "
             "(add one with `brandmon users add`)")
    return actor.strip()


def _t(text: object) -> str:
    return for_terminal(str(text))


def _run(action: str, func: object, *args: object, **kwargs: object) -> object:
    try:
        return func(*args, **kwargs)  # type: ignore[operator]
    except QueueError as exc:
        fail(f"{action}: {exc}")
    return None


@click.group()
def queue() -> None:
    """Work the reply queue from the terminal (the same actions as the web page)."""


@queue.command("list")
@config_options
@actor_option
@click.option("--view", type=click.Choice(list(VIEWS)), default="open", show_default=True)
@click.option("--brand", default=None)
@click.option("--limit", default=50, show_default=True)
@click.option("--language", default=None, callback=lang.language_option, help="Only posts in this language (es, fr).")
def list_cmd(config_path: Path, database_url: str | None, actor: str, view: str, brand: str | None,
             limit: int, language: str | None) -> None:
    """List items, most urgent first, then earliest deadline."""
    settings, db = load(config_path, database_url)
    now = utcnow()
    wake_snoozed(db, now=now)
    entries = list_queue(db, statuses=VIEWS[view], brand=brand, limit=limit,
                         claimed_by=actor if view == "mine" else None, language=language)
    click.echo(f"{'#':>5}  {'level':8} {'category':10} {'SLA':>16}  {'kind':7} {'status':12} {'lang':4} "
               f"{'author':20} post")
    for entry in entries:
        sla = sla_status(first_response_due=entry.item.first_response_due, resolution_due=entry.item.resolution_due,
                         first_response_at=entry.item.first_response_at, resolved_at=entry.item.resolved_at,
                         now=now, warning_min=settings.queue.breach_warning_min)
        due = format_due(sla.minutes_left) if sla.minutes_left is not None else sla.state
        flag = {"warning": "!", "breached": "!!"}.get(sla.state, "")
        category = entry.item.category or entry.item.urgency_category  # a brand's own by name; NULL: as stored
        click.echo(f"{entry.item.id:>5}  {entry.item.urgency_level:8} {category:10} "
                   f"{flag + due:>16}  {entry.item.kind:7} {entry.item.status:12} "
                   f"{entry.scores.language or entry.mention.language or '?':4} "
                   f"{cut(_t('@' + entry.mention.author_handle), 20):20} "
                   f"{cut(_t(' '.join(entry.mention.text.split())), 70)}")
    total = count_queue(db, statuses=VIEWS[view], brand=brand, claimed_by=actor if view == "mine" else None,
                        language=language)
    more = f"; --limit {total} shows them all" if total > len(entries) else ""
    click.echo(f"{total} items {view}, showing {len(entries)}{more}")


@queue.command("show")
@config_options
@actor_option
@click.argument("item_id", type=int)
def show_cmd(config_path: Path, database_url: str | None, actor: str, item_id: int) -> None:
    """Show an item, its case's conversation and the customer's earlier cases; records that you saw the thread."""
    settings, db = load(config_path, database_url)
    actor = _acting(db, actor)
    entry = _run("show", get_entry, db, item_id)
    now = utcnow()
    mark_seen(db, entry.item.id, entry.mention.id, actor, now=now)  # type: ignore[attr-defined]
    print_item(settings, db, entry, now=now)  # type: ignore[arg-type]


@queue.command("claim")
@config_options
@actor_option
@click.argument("item_id", type=int, required=False)
@click.option("--next", "next_", is_flag=True, help="Claim the most urgent item, one in your languages first.")
@click.option("--only-my-languages", is_flag=True, help="With --next: only items in your profile's languages.")
def claim_cmd(config_path: Path, database_url: str | None, actor: str, item_id: int | None, next_: bool,
              only_my_languages: bool) -> None:
    """Claim an item (or --next); the claim lasts queue.lease_min minutes."""
    settings, db = load(config_path, database_url)
    actor = _acting(db, actor)
    if next_ == (item_id is not None):
        fail("claim: give an item id or --next")
    row = (lang.claim_next_for(settings, db, actor, only_their_languages=only_my_languages) if item_id is None
           else _run("claim", claim, db, item_id, actor, lease_min=settings.queue.lease_min))
    click.echo(f"item {row.id} is yours until {row.lease_until:%Y-%m-%d %H:%M} UTC")  # type: ignore[attr-defined]


def _send(settings: Settings, db: Database, item_id: int, actor: str, text: str, *, send_now: bool,
          translation: ReplyTranslation | None = None) -> None:
    mention = get_entry(db, item_id).mention
    check = check_reply(text, mention.network)
    for warning in check.warnings:
        click.echo(f"warning: {warning}", err=True)
    reply = (_run("reply", queue_translated_reply, db, actor, translation) if translation is not None
             else _run("reply", queue_reply, db, item_id, actor, text))
    click.echo(f"reply {reply.id} queued ({check.length} characters as {mention.network} counts them)")  # type: ignore[attr-defined]
    if not send_now:
        return
    from monitor.pipeline import build_sources
    from monitor.pipeline.deliver import Deliverer
    from monitor.queue.replies import ReplyNotifier

    sources, _ = build_sources(settings)
    Deliverer(db, {"reply": ReplyNotifier(db, sources)}, messages_per_second=settings.slack.messages_per_second,
              clock=utcnow).deliver_due(limit=20)
    with db.session() as session:
        row = session.get(ReplyRow, reply.id)  # type: ignore[attr-defined]
    if row is not None and row.status == "posted":
        click.echo(f"posted: {_t(row.url)}")
    elif row is not None and row.status == "failed":
        fail(f"reply {row.id} could not be posted: {row.error}")
    else:
        click.echo("not posted yet; `brandmon run` keeps trying" + (f" (last error: {row.error})"
                                                                    if row and row.error else ""))


@queue.command("reply")
@config_options
@actor_option
@click.argument("item_id", type=int)
@click.option("--text", default=None, help="The reply; `-` reads it from stdin.")
@click.option("--saved", "saved_name", default=None, help="Use this saved reply, variables filled in.")
@click.option("--queue-only", is_flag=True, help="Leave it in the outbox for `brandmon run` to post.")
@click.option("--translate", "translate_text", default=None, help="A reply in your team's language, translated into "
              "the post's and shown for approval (needs translation.url); `-` reads it from stdin.")
@click.option("--yes", "assume_yes", is_flag=True, help="With --translate: post the translation without asking.")
def reply_cmd(config_path: Path, database_url: str | None, actor: str, item_id: int, text: str | None,
              saved_name: str | None, queue_only: bool, translate_text: str | None, assume_yes: bool) -> None:
    """Reply in public to an item you have claimed and opened (`queue show`)."""
    settings, db = load(config_path, database_url)
    actor = _acting(db, actor)
    entry = _run("reply", get_entry, db, item_id)
    mention = entry.mention  # type: ignore[attr-defined]
    if sum(given is not None for given in (text, saved_name, translate_text)) != 1:
        fail("reply: give exactly one of --text, --saved and --translate")
    if translate_text is not None:
        proposal = lang.approved_translation(settings, db, entry, sys.stdin.read().strip() if translate_text == "-"  # type: ignore[arg-type]
                                             else translate_text, assume_yes=assume_yes)
        _send(settings, db, item_id, actor, proposal.text, send_now=not queue_only, translation=proposal)
        return
    if text == "-":
        text = sys.stdin.read().strip()
    if saved_name is not None:
        found = [s for s in lang.replies_for(settings, db, entry) if s.name == saved_name]  # type: ignore[arg-type]
        if not found:
            fail(f"reply: no saved reply {saved_name!r} fits this post")
        text = _run("reply", render_saved_reply, found[0].text, author_name=mention.author_name,
                    handle=mention.author_handle, brand=mention.brand)  # type: ignore[assignment]
    assert text is not None
    _send(settings, db, item_id, actor, text, send_now=not queue_only)


@queue.command("thank")
@config_options
@actor_option
@click.argument("item_id", type=int)
@click.option("--queue-only", is_flag=True, help="Leave it in the outbox for `brandmon run` to post.")
def thank_cmd(config_path: Path, database_url: str | None, actor: str, item_id: int, queue_only: bool) -> None:
    """Claim a post and thank its author in public with the configured thank-you."""
    settings, db = load(config_path, database_url)
    actor = _acting(db, actor)
    entry = _run("thank", get_entry, db, item_id)
    mention = entry.mention  # type: ignore[attr-defined]
    _run("thank", claim, db, item_id, actor, lease_min=settings.queue.lease_min)
    text = _run("thank", render_saved_reply, lang.thank_for(settings, db, entry),  # type: ignore[arg-type]
                author_name=mention.author_name, handle=mention.author_handle, brand=mention.brand)
    _send(settings, db, item_id, actor, str(text), send_now=not queue_only)


def _status_command(name: str, status: str, help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @config_options
    @actor_option
    @click.argument("item_id", type=int)
    def command(config_path: Path, database_url: str | None, actor: str, item_id: int) -> None:
        _, db = load(config_path, database_url)
        actor = _acting(db, actor)
        _run(name, set_status, db, item_id, status, actor)
        click.echo(f"item {item_id} is now {status.replace('_', ' ')}")

    return command


queue.add_command(_status_command("resolve", "resolved", "Mark an item resolved."))
queue.add_command(_status_command("not-relevant", "not_relevant", "Mark an item not relevant."))
queue.add_command(_status_command("release", "new", "Give up your claim (or reopen a closed item)."))


@queue.command("snooze")
@config_options
@actor_option
@click.argument("item_id", type=int)
@click.option("--for", "duration", default=None, help="How long: 30m, 4h, 1d.")
@click.option("--until", "until", default=None, help="Until an ISO 8601 time with a UTC offset.")
def snooze_cmd(config_path: Path, database_url: str | None, actor: str, item_id: int, duration: str | None,
               until: str | None) -> None:
    """Hide an item until a time; it comes back as new."""
    _, db = load(config_path, database_url)
    actor = _acting(db, actor)
    now = utcnow()
    if duration and (match := _DURATION.match(duration.strip())):
        amount, unit = int(match.group(1)), match.group(2)
        when = now + timedelta(minutes=amount * {"m": 1, "h": 60, "d": 1440}[unit])
    elif until:
        try:
            when = datetime.fromisoformat(until)
        except ValueError:
            fail(f"snooze: --until {until!r} is not an ISO 8601 time")
        if when.tzinfo is None:
            fail("snooze: --until needs a UTC offset, e.g. 2026-11-20T09:00+00:00")
    else:
        fail("snooze: give --for (30m, 4h, 1d) or --until")
    _run("snooze", set_status, db, item_id, "snoozed", actor, now=now, snooze_until=when)
    click.echo(f"item {item_id} snoozed until {when:%Y-%m-%d %H:%M %Z}")


@queue.command("reclassify")
@config_options
@actor_option
@click.argument("item_id", type=int)
@click.option("--sentiment", type=click.Choice(SENTIMENTS), default=None)
@click.option("--complaint/--no-complaint", default=None)
@click.option("--urgency-category", default=None, metavar="C",
              help="a built-in category (" + ", ".join(URGENCY_CATEGORIES) + ") or one of the item's brand's own")
def reclassify_cmd(config_path: Path, database_url: str | None, actor: str, item_id: int, sentiment: str | None,
                   complaint: bool | None, urgency_category: str | None) -> None:
    """Correct an item's labels; the correction is kept as a labelled example for training."""
    settings, db = load(config_path, database_url)
    actor = _acting(db, actor)
    entry = _run("reclassify", get_entry, db, item_id)
    example = _run("reclassify", reclassify, db, entry.mention.id, actor, sla=settings.sla,  # type: ignore[attr-defined]
                   categories=brand_categories(settings.brands), sentiment=sentiment, complaint=complaint,
                   urgency_category=urgency_category, item_id=item_id)
    click.echo(f"labelled example {example.id} stored: {example.sentiment}, "  # type: ignore[attr-defined]
               f"complaint={example.complaint}, urgency={example.urgency_category}")  # type: ignore[attr-defined]
    item = get_entry(db, item_id).item
    click.echo(f"item {item.id}: {item.kind}, {item.urgency_level} ({item.urgency_score:.2f}), "
               f"first response due {item.first_response_due:%Y-%m-%d %H:%M} UTC")


@queue.command("audit")
@config_options
@click.argument("item_id", type=int, required=False)
@click.option("--limit", default=50, show_default=True)
def audit_cmd(config_path: Path, database_url: str | None, item_id: int | None, limit: int) -> None:
    """Print the audit log (one item's, or everything's), oldest first."""
    _, db = load(config_path, database_url)
    for row in reversed(audit_trail(db, item_id=item_id, limit=limit)):
        click.echo(f"{row.at:%Y-%m-%d %H:%M:%S} {_t(row.actor):16} {row.action:20} item={row.queue_item_id or '-'} "
                   f"post={row.mention_id or '-'} {cut(_t(row.detail), 120)}")


@click.command()
@config_options
@click.option("--host", default=None, help="Listen here (default: web.host).")
@click.option("--port", type=int, default=None, help="Listen on this port (default: web.port).")
def serve(config_path: Path, database_url: str | None, host: str | None, port: int | None) -> None:
    """Serve the reply queue's web page."""
    import uvicorn

    from core.settings import Secrets
    from monitor.pipeline import build_sources
    from monitor.web import create_app

    settings, db = load(config_path, database_url)
    settings = with_loopback_slack(settings)
    sources, errors = build_sources(settings)
    for name, error in errors.items():
        click.echo(f"brandmon: source {name} cannot post replies: {error}", err=True)
    app = create_app(settings, db, sources=sources, secrets_=Secrets.from_env())
    host, port = host or settings.web.host, port or settings.web.port
    click.echo(f"brandmon: serving the reply queue on http://{host}:{port}/ (database {db.redacted_url()})")
    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)


@click.group()
def users() -> None:
    """Manage who can log in to the web page."""


@users.command("add")
@config_options
@click.argument("username")
@click.option("--role", type=click.Choice(["responder", "admin"]), default="responder", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin instead of prompting.")
@click.option("--languages", default="", callback=lang.languages_option, help="Languages they answer in: es,fr.")
def users_add(config_path: Path, database_url: str | None, username: str, role: str, password_stdin: bool,
              languages: tuple[str, ...]) -> None:
    """Add a user; the password is stored as an argon2 hash only."""
    from monitor.web.auth import UserError, add_user

    _, db = load(config_path, database_url)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        add_user(db, username, password, role=role, actor=getpass.getuser())
    except UserError as exc:
        fail(f"users add: {exc}")
    if languages:
        set_user_languages(db, username, languages, actor=getpass.getuser())
    click.echo(f"user {_t(username)} added as {role}" + (f", answering in {', '.join(languages)}" if languages else ""))


def register(main: click.Group) -> None:
    """Add the queue, serve and users commands to `main`."""
    for command in (queue, serve, users):
        main.add_command(command)


__all__ = ["register"]
