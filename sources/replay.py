"""Replay mentions from a JSON Lines or CSV file, for backfills and the offline demo.

JSON Lines records use brandmon's own field names (see README, "Replay files"); CSV files are either the same
fields as columns or the "Customer Support on Twitter" layout (tweet_id, author_id, inbound, created_at, text,
response_tweet_id, in_response_to_tweet_id). The cursor is the number of records already read.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from core.domain import Batch, Mention, ReplyPath
from sources.base import FatalSourceError, MalformedResponse, Source

log = logging.getLogger(__name__)

TWCS_COLUMNS = {"tweet_id", "author_id", "inbound", "created_at", "text"}
_TWCS_TIME = "%a %b %d %H:%M:%S %z %Y"


def parse_time(value: Any) -> datetime:
    """Parse an ISO 8601 string, a Twitter-style date or epoch seconds into an aware UTC datetime."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"created_at must be a time, got {value!r}")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = datetime.strptime(text, _TWCS_TIME)
        except ValueError:
            raise ValueError(f"created_at {value!r} is neither ISO 8601 nor a Twitter date") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _int_or_none(value: Any) -> int | None:
    if value in (None, ""):
        return None
    return int(value)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "y"}


class ReplaySource(Source):
    """Read mentions from a file in order, a batch per poll, resuming from a record count."""

    network = "replay"

    def __init__(self, *, name: str, brand: str, options: Mapping[str, Any]) -> None:
        super().__init__(name=name, brand=brand, options=options)
        if "path" not in options:
            raise FatalSourceError(f"source {name!r}: replay needs options.path")
        self.path = Path(str(options["path"])).expanduser()
        self.batch_size = int(options.get("batch_size", 500))
        self.default_network = str(options.get("network", "x"))
        self.skip_malformed = bool(options.get("skip_malformed", False))
        #: Only records whose "brand" field names this source's brand are replayed (when the field is there).
        self.filter_brand = bool(options.get("filter_brand", True))
        #: "now": shift times so the newest record is now; "week": shift by whole weeks into the last full week.
        self.rebase = options.get("rebase")
        if self.rebase not in (None, "now", "week"):
            raise FatalSourceError(f"source {name!r}: options.rebase must be 'now' or 'week', not {self.rebase!r}")
        self._shift: timedelta | None = None
        self._reader: Iterator[tuple[int, dict[str, Any] | MalformedResponse]] | None = None
        self._handle: IO[str] | None = None
        self._position = 0
        self._roots: dict[str, str] = {}

    # -- file reading ---------------------------------------------------------------------------------
    def _format(self) -> str:
        declared = self.options.get("format")
        if declared:
            return str(declared)
        return "csv" if self.path.suffix.lower() == ".csv" else "jsonl"

    def _records(self, handle: IO[str]) -> Iterator[tuple[int, dict[str, Any] | MalformedResponse]]:
        """Yield (line number, record) pairs; a line that is no JSON object yields the error in its place."""
        if self._format() == "csv":
            reader = csv.DictReader(handle)
            for record in reader:
                yield reader.line_num, dict(record)
            return
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, MalformedResponse(f"{self.path}:{number}: not valid JSON: {exc.msg}")
                continue
            if not isinstance(record, dict):
                yield number, MalformedResponse(f"{self.path}:{number}: each line must be a JSON object")
                continue
            yield number, record

    def _open(self, skip: int) -> None:
        self.close()
        try:
            self._handle = self.path.open(encoding="utf-8", newline="")
        except OSError as exc:
            raise FatalSourceError(f"source {self.name!r}: cannot open {self.path}: {exc.strerror}") from None
        self._reader = self._records(self._handle)
        self._position = 0
        for _ in range(skip):
            if next(self._reader, None) is None:
                break
            self._position += 1

    def close(self) -> None:
        """Close the file if it is open."""
        if self._handle is not None:
            self._handle.close()
        self._handle, self._reader = None, None

    def _time_shift(self) -> timedelta:
        if self._shift is None:
            self._shift = timedelta(0)
            if self.rebase in ("now", "week"):
                newest = None
                with self.path.open(encoding="utf-8", newline="") as handle:
                    for _, record in self._records(handle):
                        if isinstance(record, MalformedResponse):
                            continue
                        try:
                            stamp = parse_time(record.get("created_at"))
                        except ValueError:
                            continue
                        newest = stamp if newest is None or stamp > newest else newest
                if newest is not None and self.rebase == "now":
                    self._shift = datetime.now(UTC) - newest - timedelta(seconds=1)
                elif newest is not None:
                    # whole weeks, so the file's last week becomes the last full ISO week and hours of week stay
                    today = datetime.now(UTC).date()
                    last_monday = today - timedelta(days=today.weekday() + 7)
                    newest_monday = newest.date() - timedelta(days=newest.weekday())
                    self._shift = timedelta(days=(last_monday - newest_monday).days)
        return self._shift

    # -- the contract ---------------------------------------------------------------------------------
    def poll(self, cursor: str | None) -> Batch:
        """Read the next `batch_size` records after `cursor` (a record count)."""
        start = int(cursor or 0)
        if self._reader is None or self._position != start:
            self._open(start)
        assert self._reader is not None
        mentions: list[Mention] = []
        read = 0
        exhausted = False
        while read < self.batch_size:
            item = next(self._reader, None)
            if item is None:
                exhausted = True
                break
            line, record = item
            read += 1
            if isinstance(record, MalformedResponse):
                if not self.skip_malformed:
                    self.close()
                    raise record
                log.warning("source %s: %s", self.name, record)
                continue
            try:
                mention = self._normalise(record)
            except (KeyError, ValueError, TypeError) as exc:
                if not self.skip_malformed:
                    self.close()
                    raise MalformedResponse(f"{self.path}:{line}: {exc}") from None
                log.warning("source %s: %s:%d skipped: %s", self.name, self.path, line, exc)
                continue
            if mention is not None:
                mentions.append(mention)
        self._position = start + read
        return Batch(tuple(mentions), str(start + read), exhausted=exhausted)

    # -- normalising ----------------------------------------------------------------------------------
    def _normalise(self, record: dict[str, Any]) -> Mention | None:
        if record.keys() >= TWCS_COLUMNS:
            return self._normalise_twcs(record)
        brand = record.get("brand")
        if self.filter_brand and brand and brand != self.brand:
            return None
        external_id = str(record.get("id") or record.get("external_id") or "").strip()
        if not external_id:
            raise ValueError("record has no id")
        text = record.get("text")
        if not isinstance(text, str):
            raise ValueError("text must be a string")
        network = str(record.get("network") or self.default_network)
        handle = str(record.get("author_handle") or "unknown")
        created_at = parse_time(record.get("created_at")) + self._time_shift()
        url = str(record.get("url") or f"https://x.com/{handle}/status/{external_id}")
        return Mention(
            network=network,
            external_id=external_id,
            author_handle=handle,
            author_name=str(record.get("author_name") or handle),
            author_followers=_int_or_none(record.get("author_followers")),
            author_verified=_bool(record.get("author_verified", False)),
            text=text,
            language=record.get("lang") or record.get("language"),
            url=url,
            created_at=created_at,
            conversation_id=record.get("conversation_id"),
            parent_id=record.get("parent_id"),
            reply_path=ReplyPath.OPEN_IN_APP,
            reply_path_reason="replayed from a file: answer it in the network's app",
            raw=record,
        )

    def _normalise_twcs(self, record: dict[str, Any]) -> Mention | None:
        if not _bool(record["inbound"]):
            return None
        handle = self.options.get("mentions_handle")
        if handle and f"@{str(handle).lstrip('@').lower()}" not in record["text"].lower():
            return None
        tweet_id = str(record["tweet_id"]).strip()
        parent = (record.get("in_response_to_tweet_id") or "").strip() or None
        root = self._roots.get(parent, parent) if parent else tweet_id
        self._roots[tweet_id] = root or tweet_id
        author = str(record["author_id"]).strip()
        return Mention(
            network=self.default_network,
            external_id=tweet_id,
            author_handle=author,
            author_name=author,
            text=record["text"],
            url=f"https://x.com/{author}/status/{tweet_id}",
            created_at=parse_time(record["created_at"]) + self._time_shift(),
            conversation_id=root,
            parent_id=parent,
            reply_path=ReplyPath.OPEN_IN_APP,
            reply_path_reason="replayed from a file: answer it in the network's app",
            raw=record,
        )
