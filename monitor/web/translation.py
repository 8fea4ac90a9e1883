"""The item page's translation path: the post translated beside the original, a reply proposed for approval.

Translation is on when `translation.url` names a LibreTranslate server and the post's language differs from the
brand's (`brands[].language`). The page never shows a translation instead of the original, and a failed one is
a short notice, never an error page. A proposed reply translation travels to the approve form signed with the
session key (itsdangerous), so the texts the audit log records are the ones the server and the responder gave.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from monitor.queue.items import QueueEntry
from monitor.queue.languages import brand_language
from monitor.queue.replies import check_reply
from monitor.queue.translate import (
    LibreTranslateClient,
    PostTranslation,
    ReplyTranslation,
    SameLanguage,
    TranslationError,
    translate_post,
)
from monitor.web.context import WebContext

log = logging.getLogger(__name__)

#: How long a proposed translation may wait for approval before it must be translated again.
PROPOSAL_MAX_AGE_S = 2 * 60 * 60
_SALT = "brandmon.reply-translation"


class ProposalInvalid(TranslationError):
    """A proposal that was not signed by this site for this item and user, or is too old."""


@dataclass(frozen=True, slots=True)
class Languages:
    """The languages of an item: the post's (None when unknown) and the team's, with names for the page."""

    post: str | None
    team: str
    post_name: str
    team_name: str

    @property
    def differ(self) -> bool:
        """Return True when the post is in a known language other than the team's."""
        return self.post is not None and self.post != self.team


@dataclass(frozen=True, slots=True)
class TranslationView:
    """What the item page shows of the translation path."""

    languages: Languages
    #: The translator is configured (and usable) and the post is in another language.
    offered: bool
    post: PostTranslation | None = None
    #: Why the post's translation is not shown (the server failed, refused, asked us to wait).
    notice: str | None = None


def post_language(entry: QueueEntry) -> str | None:
    """Return a queued post's language: the classifier's, else the one its network reported."""
    return entry.scores.language or entry.mention.language


def _name(client: LibreTranslateClient | None, code: str | None) -> str:
    """Return the server's name for a language code, else the code (a failure here only costs the name)."""
    if code is None:
        return "unknown"
    if client is not None:
        try:
            server_code = client.server_code(code)
            name = next((lang.name for lang in client.languages() if lang.code == server_code), None)
            if name:
                return name
        except TranslationError:
            pass
    return code


def languages_of(context: WebContext, entry: QueueEntry, *, with_names: bool = True) -> Languages:
    """Return the post's and the team's languages for `entry`."""
    post, team = post_language(entry), brand_language(context.settings, entry.mention.brand)
    client = context.translator if with_names else None
    return Languages(post, team, _name(client, post), _name(client, team))


def translation_view(context: WebContext, entry: QueueEntry) -> TranslationView:
    """Translate the post into the team's language for the page (from the cache when it was done before)."""
    plain = languages_of(context, entry, with_names=False)
    if context.translator is None or not plain.differ:
        notice = context.translator_error if plain.differ else None
        return TranslationView(plain, False, notice=notice)
    languages = languages_of(context, entry)
    try:
        shown = translate_post(context.db, context.translator, entry.mention.id, target=languages.team,
                               now=context.now())
    except SameLanguage:
        return TranslationView(languages, True)
    except TranslationError as exc:
        return TranslationView(languages, True, notice=f"No translation: {exc}")
    return TranslationView(languages, True, post=shown)


# -- a proposed reply translation, signed into the approve form ---------------------------------------------

def _serializer(context: WebContext) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(context.signing_key, salt=_SALT)


def sign_proposal(context: WebContext, proposal: ReplyTranslation, *, actor: str) -> str:
    """Return the proposal as a signed token for the approve form, bound to its item and responder."""
    data: dict[str, Any] = {"item": proposal.item_id, "actor": actor, "original": proposal.original,
                            "text": proposal.text, "source": proposal.source, "target": proposal.target,
                            "engine": proposal.engine}
    return str(_serializer(context).dumps(data))


def read_proposal(context: WebContext, token: str, *, item_id: int, actor: str, network: str) -> ReplyTranslation:
    """Return the proposal a signed token carries; refuse one for another item or user, altered, or expired."""
    try:
        data = _serializer(context).loads(token, max_age=PROPOSAL_MAX_AGE_S)
    except SignatureExpired:
        raise ProposalInvalid("the proposed translation is too old; translate the reply again") from None
    except BadSignature:
        raise ProposalInvalid("the proposed translation was altered or is not from this site; "
                              "translate the reply again") from None
    fields = ("original", "text", "source", "target", "engine")
    if (not isinstance(data, dict) or data.get("item") != item_id or data.get("actor") != actor
            or not all(isinstance(data.get(name), str) for name in fields)):
        raise ProposalInvalid("the proposed translation belongs to another item or responder; translate again")
    return ReplyTranslation(item_id, data["original"], data["text"], data["source"], data["target"],
                            check_reply(data["text"], network), data["engine"])


__all__ = ["Languages", "ProposalInvalid", "TranslationView", "languages_of", "post_language", "read_proposal",
           "sign_proposal", "translation_view"]
