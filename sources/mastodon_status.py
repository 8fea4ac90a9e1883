"""Mastodon helpers that need no SDK: status text, reply visibility, per-instance tokens, stable status keys.

A status's `id` is local to the instance that serves it: the same status read through two instances has two
ids, and two instances can hand out the same id for different statuses. Its `uri` (the ActivityPub id) is the
same everywhere, so brandmon stores a status under `status_key` (the uri) and keeps the local id in
`raw["status"]["id"]` with `raw["instance"]`, which is what replies and lookups on that instance use. A reply
names only its parent's local id (`in_reply_to_id`); `StatusKeys` remembers the keys of the statuses one source
has read, so a parent read before is linked by its key without a request.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import replace
from datetime import UTC, datetime
from html import unescape
from typing import Any
from urllib.parse import urlsplit

from core.domain import MAX_ID, Mention
from sources.base import RateLimited, RetriableError

log = logging.getLogger(__name__)

#: Visibilities from widest to narrowest; a reply never goes wider than the status it answers.
_VISIBILITY_ORDER = ("public", "unlisted", "private", "direct")
_TAG = re.compile(r"<[^>]+>")
_BREAK = re.compile(r"<br\s*/?>|</p>\s*<p>", re.IGNORECASE)
#: Keys remembered per source: enough for the threads a busy brand has open, bounded in memory.
KEYS_KEPT = 20_000


def html_to_text(html: str) -> str:
    """Turn a status's HTML content into plain text."""
    return unescape(_TAG.sub("", _BREAK.sub("\n", html or ""))).strip()


def reply_visibility(answered: str | None, wanted: str | None = None) -> str:
    """Return the narrower of the answered status's visibility and the configured one."""
    order = {v: i for i, v in enumerate(_VISIBILITY_ORDER)}
    base = answered if answered in order else "direct"
    if wanted in order and order[wanted] > order[base]:
        return str(wanted)
    return str(base)


def instance_token(value: str, instance_url: str) -> str | None:
    """Pick this instance's token: the whole value when it is one token, else the `host=token` pair for its host."""
    pairs = [p.partition("=") for p in value.replace(",", " ").split()]
    if not any("." in name or ":" in name or name == "localhost" for name, sep, token in pairs if sep and token):
        return value.strip() or None
    host = urlsplit(instance_url).netloc.lower()
    for name, _, token in pairs:
        if name.lower().removeprefix("https://").removeprefix("http://").rstrip("/") == host:
            return token
    return None


def jsonable(value: Any) -> Any:
    """A Mastodon.py entity as plain JSON values (datetimes as ISO strings)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def aware(value: Any) -> datetime:
    """A status time as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def newer(candidate: str, than: str | None) -> bool:
    """Whether local id `candidate` is newer than `than` (Mastodon ids grow with time)."""
    return than is None or int(candidate) > int(than)


def status_key(status: Mapping[str, Any], instance_url: str) -> str:
    """The id a status is stored under: its ActivityPub `uri`, the same through every instance.

    A uri longer than a stored id can be becomes `sha256:` and its digest, still the same everywhere; a status
    without one (never seen from Mastodon itself) falls back to the instance-qualified local id.
    """
    uri = str(status.get("uri") or "")
    if not uri:
        return local_ref(instance_url, str(status["id"]))
    if len(uri) > MAX_ID:
        return "sha256:" + hashlib.sha256(uri.encode("utf-8")).hexdigest()
    return uri


def speaks_to(status: Mapping[str, Any], account_id: str | None) -> bool:
    """Return True when `status` mentions the account `account_id` or answers one of its statuses."""
    if account_id is None:
        return False
    mentioned = {str(m.get("id")) for m in status.get("mentions") or [] if isinstance(m, Mapping)}
    return account_id in mentioned or str(status.get("in_reply_to_account_id") or "") == account_id


def local_ref(instance_url: str, local_id: str) -> str:
    """The key of a status known only by its local id on one instance (a parent that cannot be looked up)."""
    return f"{urlsplit(instance_url).netloc.lower()}#{local_id}"[:MAX_ID]


class StatusKeys:
    """Local id -> stored key of the statuses one instance has shown this source, newest kept."""

    def __init__(self, instance_url: str, *, kept: int = KEYS_KEPT) -> None:
        self.instance_url = instance_url
        self.kept = kept
        self._keys: dict[str, str] = {}

    def remember(self, status: Mapping[str, Any]) -> str:
        """Note the status's key under its local id and return the key."""
        key = status_key(status, self.instance_url)
        local = str(status["id"])
        self._keys.pop(local, None)
        self._keys[local] = key
        while len(self._keys) > self.kept:
            del self._keys[next(iter(self._keys))]
        return key

    def get(self, local_id: str) -> str | None:
        """The key of a status read before, or None."""
        return self._keys.get(local_id)

    def is_placeholder(self, key: str | None) -> bool:
        """Whether `key` is an unresolved parent (`local_ref`) on this instance."""
        return bool(key) and str(key).startswith(local_ref(self.instance_url, ""))

    def link(self, found: MutableMapping[str, Mention], lookup: Callable[[str], Mapping[str, Any] | None], *,
             max_lookups: int) -> int:
        """Link each reply in `found` to its parent's key: read in this poll, else looked up; return the lookups.

        A parent that is gone, hidden, or beyond `max_lookups` keeps its placeholder (replies to it still share
        it); a lookup the instance fails or rate-limits stops the lookups until the next poll.
        """
        lookups = 0
        for key, mention in list(found.items()):
            if not self.is_placeholder(mention.parent_id):
                continue
            local = str(mention.raw["status"]["in_reply_to_id"])
            parent = self.get(local)
            if parent is None and lookups < max_lookups:
                lookups += 1
                try:
                    status = lookup(local)
                except (RetriableError, RateLimited) as exc:
                    log.info("mastodon: parent %s of %s not linked (%s); no more lookups this poll", local, key, exc)
                    max_lookups = 0
                    continue
                parent = self.remember(status) if status is not None else None
            if parent is not None:
                found[key] = replace(mention, parent_id=parent, conversation_id=parent)
        return lookups


__all__ = ["KEYS_KEPT", "StatusKeys", "aware", "html_to_text", "instance_token", "jsonable", "local_ref", "newer",
           "reply_visibility", "status_key"]
