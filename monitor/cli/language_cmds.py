"""Answering in the customer's language from the terminal: `brandmon users list|languages`, `brandmon replies ...`,
`brandmon queue translate`, and the helpers behind `queue list --language`, `queue claim --next` and
`queue reply --translate`.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from core.settings import Settings
from core.storage import Database
from core.storage.queue_tables import SavedReplyRow
from core.storage.schema import QueueItemRow
from core.textsafe import cut, for_terminal
from monitor.cli.common import config_options, fail, load
from monitor.queue.items import ItemNotFound, QueueEntry, QueueError, get_entry
from monitor.queue.languages import (
    LanguageError,
    add_saved_reply_variant,
    brand_language,
    claim_next,
    normalise_languages,
    saved_replies_in,
    set_user_languages,
    stored_variants,
    thank_in,
    users_with_languages,
)
from monitor.queue.replies import SavedReply, add_saved_reply
from monitor.queue.translate import (
    LibreTranslateClient,
    ReplyTranslation,
    TranslationError,
    propose_reply_translation,
    translate_post,
    translator_for,
)


def _t(text: object) -> str:
    return for_terminal(str(text))


def _block(text: str) -> str:
    """Indent untrusted text for the terminal, its control and bidi characters neutralised."""
    return "  " + for_terminal(text, keep_newlines=True).replace("\n", "\n  ")


def language_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """Click callback: one language code, normalised (`--language ES` is es)."""
    if value is None:
        return None
    codes = languages_option(_ctx, _param, value)
    if len(codes) != 1:
        raise click.BadParameter("give one language code, such as es")
    return codes[0]


def languages_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, ...]:
    """Click callback: comma-separated language codes (`es,fr`), normalised."""
    try:
        return normalise_languages(value or "")
    except LanguageError as exc:
        raise click.BadParameter(str(exc)) from None


def replies_for(settings: Settings, db: Database, entry: QueueEntry) -> list[SavedReply]:
    """Return the saved replies that fit an item's post, each in the post's language where it has that variant."""
    mention = entry.mention
    return saved_replies_in(db, settings.queue.saved_replies, network=mention.network, kind=entry.item.kind,
                            brand=mention.brand, language=entry.scores.language or mention.language,
                            default_language=brand_language(settings, mention.brand))


def thank_for(settings: Settings, db: Database, entry: QueueEntry) -> str:
    """Return the configured thank-you in the post's language where it has that variant."""
    mention = entry.mention
    return thank_in(db, settings.queue.saved_replies, network=mention.network,
                    language=entry.scores.language or mention.language,
                    default_language=brand_language(settings, mention.brand))


def claim_next_for(settings: Settings, db: Database, actor: str, *, only_their_languages: bool) -> QueueItemRow:
    """Claim the next item for `actor` (one in their languages first) and say which; exit when none is left."""
    try:
        found = claim_next(db, actor, only_their_languages=only_their_languages, lease_min=settings.queue.lease_min)
    except QueueError as exc:
        fail(f"claim: {exc}")
    if found is None:
        return fail("claim: nothing left to claim" + (" in your languages" if only_their_languages else ""))
    language = found.language or "unknown"
    item = found.entry.item
    category = item.category or item.urgency_category  # a brand's own by its name; NULL: the urgency category
    click.echo(f"item {item.id}: {item.urgency_level} {category}, "
               f"language {language}" + ("" if found.in_their_language else " (not one of your languages)"))
    return item


def _translator(settings: Settings) -> LibreTranslateClient:
    try:
        client = translator_for(settings)
    except TranslationError as exc:
        fail(str(exc))
    if client is None:
        return fail("translation is off: set translation.url to a LibreTranslate server (README, 'Translation')")
    return client


def approved_translation(settings: Settings, db: Database, entry: QueueEntry, text: str, *,
                         assume_yes: bool) -> ReplyTranslation:
    """Translate a reply into the post's language, show both texts, and return it once the responder approves."""
    source = brand_language(settings, entry.mention.brand)
    with _translator(settings) as client:
        try:
            proposal = propose_reply_translation(db, client, entry.item.id, text, source=source)
        except TranslationError as exc:
            fail(f"reply: {exc}")
    click.echo(f"your reply ({proposal.source}):")
    click.echo(_block(proposal.original))
    click.echo(f"translated into {proposal.target} by {_t(proposal.engine)} (machine translation: read it first):")
    click.echo(_block(proposal.text))
    click.echo(f"{proposal.check.length} characters as {entry.mention.network} counts them"
               + (f" (limit {proposal.check.limit})" if proposal.check.limit else ""))
    if not proposal.check.ok:
        fail("reply: the translation cannot be sent: " + "; ".join(proposal.check.errors))
    if not assume_yes and not click.confirm(f"Post the {proposal.target} text to @{_t(entry.mention.author_handle)}?",
                                            default=False):
        fail("reply: not sent")
    return proposal


@click.command("translate")
@config_options
@click.argument("item_id", type=int)
@click.option("--to", "target", default=None, callback=language_option,
              help="Translate into this language (default: the brand's, brands[].language).")
def translate_cmd(config_path: Path, database_url: str | None, item_id: int, target: str | None) -> None:
    """Show an item's post with its translation beside it (needs translation.url)."""
    settings, db = load(config_path, database_url)
    try:
        entry = get_entry(db, item_id)
    except ItemNotFound as exc:
        fail(f"translate: {exc}")
    target = target or brand_language(settings, entry.mention.brand)
    with _translator(settings) as client:
        try:
            shown = translate_post(db, client, entry.mention.id, target=target)
        except TranslationError as exc:
            fail(f"translate: {exc}")
    click.echo(f"item {item_id}: @{_t(entry.mention.author_handle)} on {entry.mention.network}, "
               f"in {shown.source}:")
    click.echo(_block(shown.original))
    click.echo(f"translated into {shown.target}" + (" (kept from before)" if shown.cached else "") + ":")
    click.echo(_block(shown.text))


@click.command("list")
@config_options
def users_list(config_path: Path, database_url: str | None) -> None:
    """List the users, their role and the languages they answer in."""
    _, db = load(config_path, database_url)
    click.echo(f"{'user':24} {'role':10} {'active':6} languages")
    for user, languages in users_with_languages(db):
        click.echo(f"{cut(_t(user.username), 24):24} {user.role:10} {'yes' if user.active else 'no':6} "
                   f"{','.join(languages) or '-'}")


@click.command("languages")
@config_options
@click.argument("username")
@click.argument("languages", callback=languages_option)
def users_languages(config_path: Path, database_url: str | None, username: str, languages: tuple[str, ...]) -> None:
    """Set the languages a user answers in: `es,fr` (an empty string clears them)."""
    _, db = load(config_path, database_url)
    try:
        set_user_languages(db, username, languages, actor=getpass.getuser())
    except LanguageError as exc:
        fail(f"users languages: {exc}")
    click.echo(f"{_t(username)} answers in {', '.join(languages) or 'no language set'}")


@click.group()
def replies() -> None:
    """Manage saved replies and their texts per language."""


def _known_names(settings: Settings, db: Database) -> set[str]:
    with db.session() as session:
        stored = set(session.execute(select(SavedReplyRow.name)).scalars())
    return stored | {s.name for s in settings.queue.saved_replies}


@replies.command("add")
@config_options
@click.argument("name")
@click.argument("text")
@click.option("--lang", "language", default=None, callback=language_option,
              help="The language of TEXT: adds (or replaces) that variant of the reply NAME.")
@click.option("--brand", default=None, help="Offer a new reply only for this brand.")
@click.option("--network", default=None, help="Offer a new reply only on this network.")
@click.option("--kind", type=click.Choice(["respond", "thank"]), default=None, help="Offer a new reply only for this.")
def replies_add(config_path: Path, database_url: str | None, name: str, text: str, language: str | None,
                brand: str | None, network: str | None, kind: str | None) -> None:
    """Add a saved reply NAME with TEXT, or with --lang a text of it in that language; `-` reads TEXT from stdin."""
    settings, db = load(config_path, database_url)
    text = sys.stdin.read().strip() if text == "-" else text
    actor, exists = getpass.getuser(), name in _known_names(settings, db)
    try:
        if not exists:
            add_saved_reply(db, name=name, text=text, actor=actor, brand=brand, network=network, kind=kind)
            click.echo(f"saved reply {_t(name)!r} added")
        elif language is None:
            fail(f"replies add: a saved reply called {name!r} already exists; give --lang to add a text in a language")
        if language is not None:
            replaced = add_saved_reply_variant(db, settings.queue.saved_replies, name=name, language=language,
                                               text=text, actor=actor)
            click.echo(f"saved reply {_t(name)!r}: {language} text " + ("replaced" if replaced else "added"))
    except QueueError as exc:
        fail(f"replies add: {exc}")


@replies.command("list")
@config_options
def replies_list(config_path: Path, database_url: str | None) -> None:
    """List every saved reply with its main text and its texts per language."""
    settings, db = load(config_path, database_url)
    variants = stored_variants(db)
    with db.session() as session:
        stored = session.execute(select(SavedReplyRow).order_by(SavedReplyRow.name)).scalars().all()
    listed: list[tuple[str, str, str, dict[str, Any]]] = [
        (s.name, "config", s.text, {**variants.get(s.name, {}), **s.variants}) for s in settings.queue.saved_replies]
    listed += [(r.name, "database", r.text, variants.get(r.name, {})) for r in stored]
    for name, origin, main, texts in listed:
        click.echo(f"{_t(name)} ({origin}): {cut(_t(main), 100)}")
        for code in sorted(texts):
            click.echo(f"  {code}: {cut(_t(texts[code]), 100)}")
    click.echo(f"{len(listed)} saved replies")


def register(main: click.Group) -> None:
    """Add `queue translate`, `users list`, `users languages` and the `replies` group to `main`."""
    queue, users = main.commands.get("queue"), main.commands.get("users")
    if isinstance(queue, click.Group):
        queue.add_command(translate_cmd)
    if isinstance(users, click.Group):
        users.add_command(users_list)
        users.add_command(users_languages)
    main.add_command(replies)


__all__ = ["approved_translation", "claim_next_for", "language_option", "languages_option", "register",
           "replies_for", "thank_for"]
