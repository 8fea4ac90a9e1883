"""Answering in the customer's language: responders' languages, the next item in one of them, saved-reply variants.

A post's language is the classifier's, else the one its network reported (`post_language`). A responder lists the
languages they answer in (`brandmon users add --languages es,fr`); `claim_next` offers them the most urgent
claimable item in one of those first. A saved reply has a main text and variants per language: a post gets the
variant in its own language, else the one in its brand's language (`brands[].language`), else the main text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import and_, case, delete, or_, select

from core.settings import SavedReplySettings, Settings
from core.storage import Database
from core.storage.language_tables import SavedReplyVariantRow, UserLanguageRow, post_language
from core.storage.queue_tables import SavedReplyRow, UserRow
from core.storage.schema import ClassificationRow, MentionRow, QueueItemRow, utcnow
from monitor.queue.items import LEVEL_RANK, QueueConflict, QueueEntry, QueueError, audit, claim
from monitor.queue.replies import ReplyRefused, SavedReply, render_saved_reply, saved_replies, thank_template

log = logging.getLogger(__name__)

_CODE = re.compile(r"^[a-z]{2,3}$")
#: Candidates read per round of `claim_next`; a candidate someone else claims first is skipped.
_CANDIDATES = 25
_ROUNDS = 3
DEFAULT_LANGUAGE = "en"


class LanguageError(QueueError):
    """A language code that is not one, or a user who does not exist."""


def normalise_languages(value: str | Iterable[str]) -> tuple[str, ...]:
    """Parse "es, FR" or ["es", "fr"] into ("es", "fr"): ISO 639-1 codes, lower case, each once, in order."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    found: list[str] = []
    for part in parts:
        code = part.strip().lower().replace("_", "-").split("-")[0]
        if not code and not part.strip():
            continue
        if not _CODE.match(code):
            raise LanguageError(f"{part.strip()!r} is not a language code; use ISO 639-1 codes such as es, fr, de")
        if code not in found:
            found.append(code)
    return tuple(found)


def _one_language(value: str) -> str:
    codes = normalise_languages([value])
    if not codes:
        raise LanguageError("give a language code such as es, fr, de")
    return codes[0]


def brand_language(settings: Settings, brand: str) -> str:
    """Return the language a brand's team writes in (`brands[].language`); English for a brand no longer configured."""
    try:
        return settings.brand(brand).language
    except KeyError:
        return DEFAULT_LANGUAGE


# -- responders ---------------------------------------------------------------------------------------------

def set_user_languages(db: Database, username: str, languages: str | Iterable[str], *, actor: str,
                       now: datetime | None = None) -> tuple[str, ...]:
    """Replace the languages `username` answers in; an empty list clears them. Return the new list."""
    codes = normalise_languages(languages)
    now = now or utcnow()
    with db.session() as session:
        user_id = session.execute(select(UserRow.id).where(UserRow.username == username.strip())).scalar()
        if user_id is None:
            raise LanguageError(f"no user {username!r}")
        before = tuple(session.execute(select(UserLanguageRow.language).where(UserLanguageRow.user_id == user_id)
                                       .order_by(UserLanguageRow.language)).scalars())
        session.execute(delete(UserLanguageRow).where(UserLanguageRow.user_id == user_id))
        session.add_all(UserLanguageRow(user_id=user_id, language=code) for code in codes)
        audit(session, actor=actor, action="user_languages_set", at=now,
              detail={"username": username.strip(), "before": list(before), "after": list(codes)})
    return codes


def user_languages(db: Database, username: str) -> tuple[str, ...]:
    """Return the languages `username` answers in, sorted (none for an unknown user)."""
    with db.session() as session:
        return tuple(session.execute(
            select(UserLanguageRow.language).join(UserRow, UserRow.id == UserLanguageRow.user_id)
            .where(UserRow.username == username.strip()).order_by(UserLanguageRow.language)).scalars())


def users_with_languages(db: Database) -> list[tuple[UserRow, tuple[str, ...]]]:
    """Return every user, by name, with the languages they answer in."""
    with db.session() as session:
        users = session.execute(select(UserRow).order_by(UserRow.username)).scalars().all()
        pairs = session.execute(select(UserLanguageRow.user_id, UserLanguageRow.language)
                                .order_by(UserLanguageRow.language)).all()
    spoken: dict[int, list[str]] = {}
    for user_id, language in pairs:
        spoken.setdefault(user_id, []).append(language)
    return [(user, tuple(spoken.get(user.id, ()))) for user in users]


def responders_for(db: Database, language: str) -> list[str]:
    """Return the active users who answer in `language`, by name."""
    code = _one_language(language)
    with db.session() as session:
        return list(session.execute(
            select(UserRow.username).join(UserLanguageRow, UserLanguageRow.user_id == UserRow.id)
            .where(UserLanguageRow.language == code, UserRow.active.is_(True)).order_by(UserRow.username)).scalars())


# -- the next item in one of a responder's languages --------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NextItem:
    """The item `claim_next` claimed, and whether it is in one of the responder's languages."""

    entry: QueueEntry
    language: str | None
    in_their_language: bool


def next_candidates(db: Database, actor: str, languages: Sequence[str], *, brand: str | None = None,
                    now: datetime | None = None, only_their_languages: bool = False,
                    limit: int = _CANDIDATES) -> list[QueueEntry]:
    """Return claimable items for `actor`: those in `languages` first, then by urgency, deadline and age."""
    now = now or utcnow()
    language = post_language()
    rank = case(LEVEL_RANK, value=QueueItemRow.urgency_level, else_=len(LEVEL_RANK))
    order = [case((language.in_(list(languages)), 0), else_=1)] if languages else []
    query = (
        select(QueueItemRow, MentionRow, ClassificationRow)
        .join(MentionRow, MentionRow.id == QueueItemRow.mention_id)
        .join(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
        # new items, and claims whose lease ran out (a live claim, the actor's own included, is not offered)
        .where(or_(QueueItemRow.status == "new",
                   and_(QueueItemRow.status == "claimed",
                        or_(QueueItemRow.lease_until.is_(None), QueueItemRow.lease_until <= now))))
        .order_by(*order, rank, QueueItemRow.first_response_due, QueueItemRow.id)
        .limit(limit)
    )
    if brand is not None:
        query = query.where(QueueItemRow.brand == brand)
    if only_their_languages:
        query = query.where(language.in_(list(languages)))
    with db.session() as session:
        return [QueueEntry(item, mention, scores) for item, mention, scores in session.execute(query).all()]


def claim_next(db: Database, actor: str, *, languages: Sequence[str] | None = None, brand: str | None = None,
               only_their_languages: bool = False, lease_min: int | None = None,
               now: datetime | None = None) -> NextItem | None:
    """Claim the most urgent claimable item, one in `actor`'s languages (their profile's by default) first.

    Return None when nothing is left to claim; an item someone else claims meanwhile is passed over.
    """
    now = now or utcnow()
    spoken = tuple(languages) if languages is not None else user_languages(db, actor)
    if only_their_languages and not spoken:
        raise LanguageError(f"{actor} has no languages in their profile; add them with `brandmon users languages`")
    for _ in range(_ROUNDS):
        candidates = next_candidates(db, actor, spoken, brand=brand, now=now,
                                     only_their_languages=only_their_languages)
        if not candidates:
            return None
        for entry in candidates:
            try:
                item = claim(db, entry.item.id, actor, now=now, lease_min=lease_min)
            except QueueConflict:
                continue
            language = entry.scores.language or entry.mention.language
            log.info("claim_next: %s took item %d (language %s)", actor, item.id, language)
            return NextItem(QueueEntry(item, entry.mention, entry.scores), language, language in spoken)
    return None


# -- saved replies in the post's language -------------------------------------------------------------------

def choose_text(main: str, variants: Mapping[str, str], *, language: str | None,
                default_language: str) -> tuple[str, str | None]:
    """Return (text, its language): the post's language, else the brand's, else the main text (language None)."""
    for wanted in (language, default_language):
        if wanted and wanted in variants:
            return variants[wanted], wanted
    return main, None


def stored_variants(db: Database) -> dict[str, dict[str, str]]:
    """Return the variants added with `add_saved_reply_variant`: name -> language -> text."""
    with db.session() as session:
        rows = session.execute(select(SavedReplyVariantRow.name, SavedReplyVariantRow.language,
                                      SavedReplyVariantRow.text)).all()
    found: dict[str, dict[str, str]] = {}
    for name, language, text in rows:
        found.setdefault(name, {})[language] = text
    return found


def saved_replies_in(db: Database, configured: Sequence[SavedReplySettings], *, network: str, kind: str,
                     brand: str, language: str | None, default_language: str) -> list[SavedReply]:
    """Return `saved_replies` for a post, each in the text `choose_text` picks for the post's language."""
    extra = stored_variants(db)
    in_config = {s.name: dict(s.variants) for s in configured}
    chosen = []
    for saved in saved_replies(db, configured, network=network, kind=kind, brand=brand):
        variants = {**extra.get(saved.name, {}), **in_config.get(saved.name, {})}
        text, lang = choose_text(saved.text, variants, language=language, default_language=default_language)
        chosen.append(replace(saved, text=text, language=lang, languages=tuple(sorted(variants))))
    return chosen


def thank_in(db: Database, configured: Sequence[SavedReplySettings], *, network: str, language: str | None,
             default_language: str) -> str:
    """Return the configured thank-you for `network` (as `thank_template` finds it) in the post's language."""
    saved = next((s for s in configured if s.kind == "thank" and (s.networks is None or network in s.networks)), None)
    if saved is None:
        return thank_template(configured, network)
    variants = {**stored_variants(db).get(saved.name, {}), **saved.variants}
    return choose_text(saved.text, variants, language=language, default_language=default_language)[0]


def add_saved_reply_variant(db: Database, configured: Sequence[SavedReplySettings], *, name: str, language: str,
                            text: str, actor: str, now: datetime | None = None) -> bool:
    """Store (or replace) a saved reply's text in `language`; return True when it replaced one.

    The reply must exist, in the config file or the database; a language the config file gives it is edited there.
    """
    code = _one_language(language)
    if not text.strip():
        raise ReplyRefused("a saved reply variant needs a text")
    render_saved_reply(text, author_name="Test", handle="test", brand="brand")  # unknown variables are refused
    config_reply = next((s for s in configured if s.name == name), None)
    if config_reply is not None and code in config_reply.variants:
        raise ReplyRefused(f"saved reply {name!r} has its {code} text in the config file; change it there")
    now = now or utcnow()
    with db.session() as session:
        stored = session.execute(select(SavedReplyRow.id).where(SavedReplyRow.name == name)).scalar()
        if stored is None and config_reply is None:
            raise ReplyRefused(f"no saved reply called {name!r}; add it first")
        row = session.execute(select(SavedReplyVariantRow).where(
            SavedReplyVariantRow.name == name, SavedReplyVariantRow.language == code)).scalar()
        if row is None:
            session.add(SavedReplyVariantRow(name=name, language=code, text=text, created_by=actor, created_at=now))
        else:
            row.text, row.created_by, row.created_at = text, actor, now
        audit(session, actor=actor, action="saved_reply_variant_" + ("changed" if row else "added"), at=now,
              detail={"name": name, "language": code})
    return row is not None


__all__ = ["LanguageError", "NextItem", "add_saved_reply_variant", "brand_language", "choose_text", "claim_next",
           "next_candidates", "normalise_languages", "responders_for", "saved_replies_in", "set_user_languages",
           "stored_variants", "thank_in", "user_languages", "users_with_languages"]
