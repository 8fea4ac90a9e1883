"""The demo's loopback network: the sample stream, released as the clock reaches each post, and the brand's replies.

`DemoNetwork` holds the stream's records shifted so that the newest one is at `end` (the real "now" of the run)
and keeps every reply the team posts. One `DemoSource` per brand reads it as a live source reads its network:
the customers' posts once they are made, then the brand's own replies (marked `from_brand`, as the X, Bluesky
and Mastodon sources mark the brand's own posts). Its `reply()` is what `ReplyNotifier` calls, exactly as it
calls a real network's; the reply gets an id and an address in that network's own form.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from core.domain import Batch, Mention, PostedReply, ReplyPath
from sources.base import ReplyNotSupported
from sources.bluesky_text import graphemes, post_url
from sources.replay import ReplaySource, parse_time
from sources.reply_limits import check_reply_text

#: Milliseconds from the Unix epoch to X's snowflake epoch (4 Nov 2010).
X_EPOCH_MS = 1_288_834_974_657
_B32_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"
_REDDIT_URL = re.compile(r"^https://www\.reddit\.com/r/(\w+)/comments/([0-9a-z]+)/(\w+)/")
#: Per-network limits the demo network enforces, as the real ones do (Bluesky counts graphemes).
LIMITS: dict[str, tuple[int, Callable[[str], int]]] = {"bluesky": (300, graphemes), "mastodon": (500, len)}
#: How long a posted reply takes to show up on the network.
POST_LATENCY = timedelta(seconds=3)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def x_snowflake(at: datetime, sequence: int) -> str:
    """Return an X post id made at `at`, as X's snowflake ids encode their time."""
    return str(((_ms(at) - X_EPOCH_MS) << 22) | (sequence & 0x3FFFFF))


def mastodon_id(at: datetime, sequence: int) -> str:
    """Return a Mastodon status id made at `at` (milliseconds in the high bits, as Mastodon makes them)."""
    return str((_ms(at) << 16) | (sequence & 0xFFFF))


def bluesky_tid(at: datetime, sequence: int) -> str:
    """Return an atproto record key (TID): microseconds and a clock id in 13 sortable base-32 characters."""
    value = ((int(at.timestamp() * 1_000_000) << 10) | (sequence & 0x3FF)) & ((1 << 63) - 1)
    return "".join(_B32_SORTABLE[(value >> shift) & 31] for shift in range(60, -1, -5))


def brand_did(brand: str) -> str:
    """Return the stable did:plc of a brand's demo Bluesky account."""
    digest = hashlib.sha256(brand.encode()).digest()
    return "did:plc:" + "".join(_B32_SORTABLE[byte % 32] for byte in digest[:24])


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"


@dataclass(frozen=True, slots=True)
class PostedBrandReply:
    """One reply the team posted through the demo network."""

    brand: str
    mention: Mention
    in_reply_to: str
    text: str


class DemoNetwork:
    """The stream's posts rebased so the newest is at `end`, and the brand replies posted since the demo began."""

    def __init__(self, stream: Path, *, end: datetime, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.records = [json.loads(line) for line in stream.read_text(encoding="utf-8").splitlines() if line.strip()]
        newest = max(parse_time(record["created_at"]) for record in self.records)
        #: What is added to every time in the file: the stream's last post is made at `end`.
        self.shift = end - newest
        self.end = end
        self.replies: list[PostedBrandReply] = []
        self._by_key: dict[str, PostedBrandReply] = {}
        self._sequence = 0

    def made_at(self, record: Mapping[str, Any]) -> datetime:
        """Return when a record's post is made in this run."""
        return parse_time(record["created_at"]) + self.shift

    def arrivals(self) -> list[datetime]:
        """Return every post's time in this run, oldest first."""
        return sorted(self.made_at(record) for record in self.records)

    def later_post(self, network: str, author: str, conversation: str | None,
                   after: datetime) -> tuple[datetime, str | None] | None:
        """Return when `author` next posts in `conversation` after `after`, and the story's label for it."""
        later = [(self.made_at(r), r.get("demo_label")) for r in self.records
                 if r.get("network") == network and r.get("author_handle") == author
                 and r.get("conversation_id") == conversation and self.made_at(r) > after]
        return min(later, key=lambda pair: pair[0]) if later else None

    def post(self, *, brand: str, account: str, mention: Mention, text: str, key: str | None = None) -> PostedReply:
        """Post `text` from `account` as a reply to `mention`; return it as the network answers."""
        if key is not None and key in self._by_key:
            return self._posted(self._by_key[key])
        limit = LIMITS.get(mention.network)
        if limit is not None:
            check_reply_text(text, limit=limit[0], network=mention.network, measure=limit[1])
        self._sequence += 1
        at = self.clock() + POST_LATENCY
        post_id, url = self._address(brand, account, mention, at)
        own = Mention(
            network=mention.network, external_id=post_id, author_handle=account, author_name=brand, text=text,
            created_at=at, url=url, language=mention.language,
            conversation_id=mention.conversation_id or mention.external_id, parent_id=mention.external_id,
            reply_path=ReplyPath.BLOCKED, reply_path_reason="the brand's own post",
            raw={"from_brand": True, "in_reply_to": mention.external_id, "demo": True},
        )
        reply = PostedBrandReply(brand, own, mention.external_id, text)
        self.replies.append(reply)
        if key is not None:
            self._by_key[key] = reply
        return self._posted(reply)

    def find(self, brand: str, in_reply_to: str, text: str) -> PostedReply | None:
        """Return the reply `brand` already posted to a post with this text, if there is one."""
        for reply in self.replies:
            if reply.brand == brand and reply.in_reply_to == in_reply_to and reply.text == text:
                return self._posted(reply)
        return None

    @staticmethod
    def _posted(reply: PostedBrandReply) -> PostedReply:
        return PostedReply(external_id=reply.mention.external_id, url=reply.mention.url,
                           posted_at=reply.mention.created_at, raw={"demo_network": True})

    def _address(self, brand: str, account: str, mention: Mention, at: datetime) -> tuple[str, str]:
        """Return the new post's id and URL in the form its network uses."""
        sequence = self._sequence
        if mention.network == "bluesky":
            uri = f"at://{brand_did(brand)}/app.bsky.feed.post/{bluesky_tid(at, sequence)}"
            return uri, post_url(uri, account)
        if mention.network == "mastodon":
            user, _, instance = account.partition("@")
            status = mastodon_id(at, sequence)
            return status, f"https://{instance or 'mastodon.social'}/@{user}/{status}"
        if mention.network == "reddit":
            comment = _base36(36**6 * 20 + _ms(at) // 1000 % 36**6 + sequence)
            found = _REDDIT_URL.match(mention.url)
            where = f"r/{found.group(1)}/comments/{found.group(2)}/{found.group(3)}" if found else "comments/_/_"
            return f"t1_{comment}", f"https://www.reddit.com/{where}/{comment}/"
        post = x_snowflake(at, sequence)
        return post, f"https://x.com/{account}/status/{post}"


def reply_path(record: Mapping[str, Any]) -> tuple[ReplyPath, str | None]:
    """Decide how the team can answer a demo post, by the rules the real sources apply."""
    network = record.get("network")
    if network == "x":
        url = record.get("url", "")
        if str(record.get("text", "")).startswith("RT @"):
            return ReplyPath.BLOCKED, "a repost cannot be replied to; answer the original post"
        if not record.get("summoned"):
            return ReplyPath.OPEN_IN_APP, ("X lets API apps reply only to posts that @-mention or quote the brand; "
                                           f"answer it in the app: {url}")
    return ReplyPath.API, None


class DemoSource(ReplaySource):
    """One brand's view of the demo network: its posts as they are made, its own replies, and `reply()`."""

    network = "demo"

    def __init__(self, *, name: str, brand: str, options: Mapping[str, Any], demo: DemoNetwork,
                 accounts: Mapping[str, str]) -> None:
        super().__init__(name=name, brand=brand, options={**options, "rebase": None})
        self.demo = demo
        self.accounts = dict(accounts)
        self._replies_read = 0
        self._read = 0

    def _own_replies(self) -> list[Mention]:
        return [reply.mention for reply in self.demo.replies if reply.brand == self.brand]

    def has_news(self) -> bool:
        """Say whether a poll now would find anything: a post made by now, or a reply of the brand's."""
        now = self.demo.clock()
        records = self.demo.records
        if self._read < len(records) and self.demo.made_at(records[self._read]) <= now:
            return True
        own = self._own_replies()
        return len(own) > self._replies_read and own[self._replies_read].created_at <= now

    def poll(self, cursor: str | None) -> Batch:
        """Return the brand's posts made by now after `cursor`, then its replies posted since.

        The cursor counts the file's records read, every brand's, as a replay source's does.
        """
        read = int(cursor or 0)
        now = self.demo.clock()
        records = self.demo.records
        mentions: list[Mention] = []
        while read < len(records) and len(mentions) < self.batch_size:
            record = records[read]
            if self.demo.made_at(record) > now:
                break
            read += 1
            mention = self._normalise(record)  # None for another brand's record
            if mention is not None:
                path, reason = reply_path(record)
                mentions.append(replace(mention, created_at=self.demo.made_at(record), reply_path=path,
                                        reply_path_reason=reason))
        fresh = [m for m in self._own_replies()[self._replies_read:] if m.created_at <= now]
        self._replies_read += len(fresh)
        self._read = read
        return Batch(tuple(mentions + fresh), str(read), exhausted=read == len(records))

    def reply(self, mention: Mention, text: str, *, idempotency_key: str | None = None) -> PostedReply:
        """Post a reply through the demo network from the brand's account on the post's network.

        A second call with the same `idempotency_key` returns the first reply, as Mastodon's Idempotency-Key does.
        """
        account = self.accounts.get(mention.network)
        if account is None:
            raise ReplyNotSupported(f"source {self.name!r}: {self.brand} has no {mention.network} account "
                                    "(brands[].handles)")
        return self.demo.post(brand=self.brand, account=account, mention=mention, text=text, key=idempotency_key)

    def find_reply(self, mention: Mention, text: str) -> PostedReply | None:
        """Return the brand's reply to `mention` if the demo network already has it."""
        return self.demo.find(self.brand, mention.external_id, text)


class SimClock:
    """The demo's clock: the runner moves it through the week; everything the demo runs reads it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> None:
        """Move the clock to `when` (never backwards)."""
        self.now = max(self.now, when)
