"""Translation through a server with the LibreTranslate HTTP API (`translation.url`); off unless configured.

The API (https://libretranslate.com/docs): `POST /translate` with `q`, `source` (a code, or "auto"), `target`,
`format` ("text" or "html") and `api_key` answers `{"translatedText": ...}`, plus `detectedLanguage` when the
source was "auto"; `GET /languages` lists `{code, name, targets}`. Failures answer `{"error": "..."}`: 400 for a
bad request, a missing key or an unsupported language, 403 for an invalid key or a banned client, 429 to slow
down, 500 when the engine fails.

A post is translated for display beside the original (never instead of it), once per post and target language:
the result is kept in `translations`. A reply written in the team's language is translated into the post's,
shown to the responder, and queued only once they approve it, with both texts in the audit log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from core.settings import Secrets, Settings
from core.settings.slack import _is_loopback
from core.storage import Database, insert_ignore
from core.storage.language_tables import TranslationRow
from core.storage.schema import ClassificationRow, MentionRow, QueueItemRow, ReplyRow, utcnow
from core.textsafe import cut
from monitor.queue.context import ThreadState
from monitor.queue.replies import ReplyCheck, check_reply, queue_reply

log = logging.getLogger(__name__)

#: Characters of a server's error message kept in ours.
_ERROR_CHARS = 300


class TranslationError(Exception):
    """A translation that cannot be had; the message says why."""


class TranslationUnavailable(TranslationError):
    """The server did not answer, timed out, failed (5xx) or answered something that is not the API: try later."""


class TranslationRefused(TranslationError):
    """The server refused the request (400, 403): a bad or missing API key, an unsupported language, too long."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class TranslationRateLimited(TranslationError):
    """The server asked us to slow down (429); nothing is sent to it before `retry_at`."""

    def __init__(self, message: str, *, retry_at: datetime) -> None:
        super().__init__(message)
        self.retry_at = retry_at


class SameLanguage(TranslationError):
    """The text is already in the language asked for, or its language is unknown."""


@dataclass(frozen=True, slots=True)
class Language:
    """A language the server translates from, and the ones it translates it into."""

    code: str
    name: str
    targets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Translated:
    """What the server answered: the text, and the source language it used (detected, for "auto")."""

    text: str
    source: str
    target: str
    confidence: float | None = None


class LibreTranslateClient:
    """Call one LibreTranslate server; a 429 stops every call until its retry time (nothing sleeps it out)."""

    def __init__(self, base_url: str, *, api_key: SecretStr | None = None, timeout_s: float = 10.0,
                 rate_limit_wait_s: float = 60.0, clock: Any = utcnow) -> None:
        parts = urlsplit(base_url)
        if api_key is not None and parts.scheme != "https" and not _is_loopback((parts.hostname or "").lower()):
            raise TranslationError(f"translation.url {parts.scheme}://{parts.hostname}: the API key would travel "
                                   "unencrypted; use an https:// URL")
        self.base_url = base_url.rstrip("/") + "/"
        self._api_key = api_key
        self.rate_limit_wait_s = rate_limit_wait_s
        self.clock = clock
        self.disabled_until: datetime | None = None
        self._languages: list[Language] | None = None
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout_s, follow_redirects=False,
                                  headers={"Accept": "application/json"})

    @property
    def engine(self) -> str:
        """Name the server for the records: its base URL (which never carries the API key)."""
        return self.base_url

    def redacted(self) -> dict[str, Any]:
        """Describe the client for logs, without the API key."""
        return {"url": self.base_url, "api_key": "set" if self._api_key else None}

    @property
    def closed(self) -> bool:
        """Say whether `close` has run: the connection pool is gone and every call fails as unavailable."""
        return self._http.is_closed

    def close(self) -> None:
        """Close the HTTP connection pool (the web app does it when it shuts down); closing twice is harmless."""
        self._http.close()

    def __enter__(self) -> LibreTranslateClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def languages(self, *, refresh: bool = False) -> list[Language]:
        """Return the server's languages (`GET /languages`), asked once per client unless `refresh`."""
        if self._languages is None or refresh:
            body = self._call("GET", "languages")
            if not isinstance(body, list) or not all(isinstance(e, dict) and isinstance(e.get("code"), str)
                                                     for e in body):
                raise TranslationUnavailable(f"{self.base_url}languages did not answer a list of languages")
            self._languages = [Language(e["code"], str(e.get("name") or e["code"]),
                                        tuple(str(t) for t in e.get("targets") or ())) for e in body]
        return self._languages

    def server_code(self, language: str) -> str | None:
        """Return the server's code for an ISO 639-1 code: the same code, else one for a variant of it (zh-Hans)."""
        codes = [entry.code for entry in self.languages()]
        if language in codes:
            return language
        return next((code for code in codes if code.split("-")[0].lower() == language), None)

    def translate(self, text: str, *, source: str, target: str, text_format: str = "text") -> Translated:
        """Translate `text` from `source` (a code, or "auto") into `target` (`POST /translate`)."""
        payload: dict[str, Any] = {"q": text, "source": source, "target": target, "format": text_format}
        if self._api_key is not None:
            payload["api_key"] = self._api_key.get_secret_value()
        body = self._call("POST", "translate", json=payload)
        translated = body.get("translatedText") if isinstance(body, dict) else None
        if not isinstance(translated, str):
            raise TranslationUnavailable(f"{self.base_url}translate answered without a translatedText")
        detected = body.get("detectedLanguage") if source == "auto" else None
        if isinstance(detected, dict) and isinstance(detected.get("language"), str):
            confidence = detected.get("confidence")
            return Translated(translated, detected["language"], target,
                              float(confidence) if isinstance(confidence, int | float) else None)
        return Translated(translated, source, target)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        now = self.clock()
        if self.disabled_until is not None and now < self.disabled_until:
            raise TranslationRateLimited(f"the translation server asked us to wait until "
                                         f"{self.disabled_until:%H:%M:%S} UTC", retry_at=self.disabled_until)
        if self._http.is_closed:  # a page still rendering while the app shuts down gets a notice, not a 500
            raise TranslationUnavailable(f"{self.base_url}{path}: the translation client is closed")
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise TranslationUnavailable(f"{self.base_url}{path} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise TranslationUnavailable(f"{self.base_url}{path} cannot be reached: {type(exc).__name__}") from None
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError:
                raise TranslationUnavailable(f"{self.base_url}{path} answered something that is not JSON") from None
        error = _error_of(response)
        log.warning("translation server %s answered %d to %s: %s", self.base_url, response.status_code, path, error)
        if response.status_code == 429:
            self.disabled_until = now + timedelta(seconds=_retry_after_s(response, now) or self.rate_limit_wait_s)
            raise TranslationRateLimited(f"the translation server asked us to slow down ({error}); trying again "
                                         f"after {self.disabled_until:%H:%M:%S} UTC", retry_at=self.disabled_until)
        if response.status_code in (400, 401, 403, 404, 413):
            raise TranslationRefused(f"the translation server refused: {error}", status=response.status_code)
        raise TranslationUnavailable(f"the translation server failed ({response.status_code}): {error}")


def _error_of(response: httpx.Response) -> str:
    """Return the `{"error": ...}` message of a failed answer, or its status line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = body.get("error") if isinstance(body, dict) else None
    return cut(str(message), _ERROR_CHARS) if message else f"HTTP {response.status_code} {response.reason_phrase}"


def _retry_after_s(response: httpx.Response, now: datetime) -> float | None:
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return max(1.0, float(value))
    try:
        return max(1.0, (parsedate_to_datetime(value) - now).total_seconds())
    except (TypeError, ValueError):
        return None


def translator_for(settings: Settings, secrets: Secrets | None = None) -> LibreTranslateClient | None:
    """Return a client for `translation.url`, or None when translation is off."""
    if settings.translation.url is None:
        return None
    secrets = secrets if secrets is not None else Secrets.from_env()
    return LibreTranslateClient(settings.translation.url, api_key=secrets.translation_api_key,
                                timeout_s=settings.translation.timeout_s,
                                rate_limit_wait_s=settings.translation.rate_limit_wait_s)


def _pair(client: LibreTranslateClient, source: str | None, target: str) -> tuple[str, str]:
    """Return the server's codes for a source (None: "auto") and target, refusing a pair it cannot translate."""
    server_target = client.server_code(target)
    if server_target is None:
        raise TranslationRefused(f"the translation server does not translate into {target}", status=400)
    if source is None:
        return "auto", server_target
    server_source = client.server_code(source)
    if server_source is None:
        raise TranslationRefused(f"the translation server does not translate from {source}", status=400)
    targets = next((e.targets for e in client.languages() if e.code == server_source), ())
    if targets and server_target not in targets:
        raise TranslationRefused(f"the translation server does not translate {source} into {target}", status=400)
    return server_source, server_target


# -- a post, translated for display beside the original -----------------------------------------------------

@dataclass(frozen=True, slots=True)
class PostTranslation:
    """A post's text and its translation, to show side by side."""

    mention_id: int
    original: str
    text: str
    source: str
    target: str
    cached: bool


def translate_post(db: Database, client: LibreTranslateClient, mention_id: int, *, target: str,
                   now: datetime | None = None) -> PostTranslation:
    """Return a post's translation into `target`, from the cache or the server (then cached)."""
    with db.session() as session:
        mention = session.get(MentionRow, mention_id)
        if mention is None:
            raise TranslationError(f"no post {mention_id}")
        cached = session.execute(select(TranslationRow).where(
            TranslationRow.mention_id == mention_id, TranslationRow.target == target)).scalar()
        language = session.execute(select(ClassificationRow.language).where(
            ClassificationRow.mention_id == mention_id)).scalar() or mention.language
        original = mention.text
    if cached is not None:
        return PostTranslation(mention_id, original, cached.text, cached.source, target, True)
    if language == target:
        raise SameLanguage(f"the post is already in {target}")
    source, server_target = _pair(client, language, target)
    result = client.translate(original, source=source, target=server_target)
    source_code = result.source.split("-")[0].lower()
    if source_code == target:
        raise SameLanguage(f"the server found the post already in {target}")
    with db.session() as session:  # a concurrent translation of the same post keeps the first one stored
        insert_ignore(session, TranslationRow, [{
            "mention_id": mention_id, "source": source_code, "target": target, "text": result.text,
            "engine": client.engine, "created_at": now or utcnow()}], conflict=("mention_id", "target"))
        row = session.execute(select(TranslationRow).where(
            TranslationRow.mention_id == mention_id, TranslationRow.target == target)).scalar_one()
    return PostTranslation(mention_id, original, row.text, row.source, target, False)


# -- a reply, translated into the customer's language and approved before it is queued ----------------------

@dataclass(frozen=True, slots=True)
class ReplyTranslation:
    """A reply as the responder wrote it and as the server translated it, checked against the network."""

    item_id: int
    original: str
    text: str
    source: str
    target: str
    check: ReplyCheck
    engine: str


def propose_reply_translation(db: Database, client: LibreTranslateClient, item_id: int, text: str, *,
                              source: str) -> ReplyTranslation:
    """Translate a reply written in `source` into its post's language, for the responder to approve."""
    if not text.strip():
        raise TranslationError("the reply is empty")
    with db.session() as session:
        row = session.execute(
            select(MentionRow.network, ClassificationRow.language, MentionRow.language)
            .join(QueueItemRow, QueueItemRow.mention_id == MentionRow.id)
            .outerjoin(ClassificationRow, ClassificationRow.mention_id == MentionRow.id)
            .where(QueueItemRow.id == item_id)).first()
    if row is None:
        raise TranslationError(f"no queue item {item_id}")
    network, target = row[0], row[1] or row[2]
    if target is None:
        raise SameLanguage("the post's language is unknown; write the reply in it yourself")
    if target == source:
        raise SameLanguage(f"the post is in {target}, the language the reply is written in; send it as it is")
    server_source, server_target = _pair(client, source, target)
    result = client.translate(text, source=server_source, target=server_target)
    return ReplyTranslation(item_id, text, result.text, source, target, check_reply(result.text, network),
                            client.engine)


def queue_translated_reply(db: Database, actor: str, proposal: ReplyTranslation, *, approved_text: str | None = None,
                           now: datetime | None = None, seen: ThreadState | None = None) -> ReplyRow:
    """Queue the approved translation through `queue_reply`; the audit row keeps both texts.

    `approved_text` is the translation as the responder approved it, when they edited it; the server's text is
    kept beside it.
    """
    text = proposal.text if approved_text is None else approved_text
    translation = {"original": proposal.original, "source": proposal.source, "target": proposal.target,
                   "engine": proposal.engine, "edited": text != proposal.text}
    if text != proposal.text:
        translation["machine_text"] = proposal.text
    return queue_reply(db, proposal.item_id, actor, text, now=now, seen=seen, translation=translation)


__all__ = ["Language", "LibreTranslateClient", "PostTranslation", "ReplyTranslation", "SameLanguage", "Translated",
           "TranslationError", "TranslationRateLimited", "TranslationRefused", "TranslationUnavailable",
           "propose_reply_translation", "queue_translated_reply", "translate_post", "translator_for"]
