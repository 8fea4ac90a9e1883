"""Replay mentions from a JSON Lines or CSV file, for backfills and the offline demo.

JSON Lines records use brandmon's own field names (see README, "Replay files"); CSV files are either the same
fields as columns or the "Customer Support on Twitter" layout (tweet_id, author_id, inbound, created_at, text,
response_tweet_id, in_response_to_tweet_id). The cursor is the number of records already read.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from core.domain import MAX_TEXT, Batch, Mention, Rejection, ReplyPath
from sources.base import FatalSourceError, MalformedResponse, Source
from sources.entities import ESCAPING_NETWORKS, decode_entities
from sources.x_posts import names_handle

log = logging.getLogger(__name__)

TWCS_COLUMNS = {"tweet_id", "author_id", "inbound", "created_at", "text"}
_TWCS_TIME = "%a %b %d %H:%M:%S %z %Y"
_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
         (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))
#: CSV fields up to this many characters are read (the csv module's default limit is 131,072).
CSV_FIELD_LIMIT = MAX_TEXT * 4


def parse_time(value: Any) -> datetime:
    """Parse an ISO 8601 string, a Twitter-style date or epoch seconds into an aware UTC datetime."""
    if isinstance(value, bool):
        raise ValueError(f"created_at must be a time, got {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"created_at {value!r} is not a finite time")
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"created_at {value!r} is out of range as epoch seconds") from None
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
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"created_at {value!r} is out of range in UTC") from None


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str, float)):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"expected an integer, got {value!r}")
    return int(value)


def _optional_str(name: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    return str(value)


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
        #: The file's text encoding; UTF-8 by default, "latin-1" or "cp1252" for old CSV exports.
        self.encoding = str(options.get("encoding", "utf-8"))
        #: Only records whose "brand" field names this source's brand are replayed (when the field is there).
        self.filter_brand = bool(options.get("filter_brand", True))
        #: "now": shift times so the newest record is now; "week": shift by whole weeks into the last full week.
        self.rebase = options.get("rebase")
        if self.rebase not in (None, "now", "week"):
            raise FatalSourceError(f"source {name!r}: options.rebase must be 'now' or 'week', not {self.rebase!r}")
        self._shift: timedelta | None = None
        self._reader: Iterator[tuple[int, dict[str, Any] | MalformedResponse]] | None = None
        self._handle: IO[bytes] | None = None
        self._position = 0
        self._roots: dict[str, str] = {}

    # -- file reading ---------------------------------------------------------------------------------
    def _format(self) -> str:
        declared = self.options.get("format")
        if declared:
            return str(declared)
        return "csv" if self.path.suffix.lower() == ".csv" else "jsonl"

    def _lines(self, handle: IO[bytes], bad: dict[int, str]) -> Iterator[str]:
        """Decode the file line by line; a line that does not decode is added to `bad` and given replaced."""
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield raw.decode(self.encoding)
            except UnicodeDecodeError as exc:
                bad[number] = f"not {self.encoding} (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
                yield raw.decode(self.encoding, "replace")

    def _records(self, handle: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | MalformedResponse]]:
        """Yield (line number, record) pairs; a line that is no record yields the error in its place."""
        bad: dict[int, str] = {}
        lines = self._lines(handle, bad)
        if self._format() == "csv":
            yield from self._csv_records(lines, bad)
            return
        for number, line in enumerate(lines, start=1):
            if number in bad:
                yield number, MalformedResponse(f"{self.path}:{number}: {bad[number]}")
                continue
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as exc:
                msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
                yield number, MalformedResponse(f"{self.path}:{number}: not valid JSON: {msg}")
                continue
            if not isinstance(record, dict):
                yield number, MalformedResponse(f"{self.path}:{number}: each line must be a JSON object")
                continue
            yield number, record

    def _csv_records(self, lines: Iterator[str], bad: dict[int, str]
                     ) -> Iterator[tuple[int, dict[str, Any] | MalformedResponse]]:
        if csv.field_size_limit() < CSV_FIELD_LIMIT:
            csv.field_size_limit(CSV_FIELD_LIMIT)
        reader = csv.DictReader(lines)
        first = 2
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield reader.line_num, MalformedResponse(f"{self.path}:{reader.line_num}: not valid CSV: {exc}")
                first = reader.line_num + 1
                continue
            span = set(range(first, reader.line_num + 1))
            first = reader.line_num + 1
            broken = sorted(span & bad.keys())
            if broken:
                yield broken[0], MalformedResponse(f"{self.path}:{broken[0]}: {bad[broken[0]]}")
                continue
            if None in record:
                yield reader.line_num, MalformedResponse(f"{self.path}:{reader.line_num}: more fields than columns")
                continue
            yield reader.line_num, dict(record)

    def _open_binary(self) -> IO[bytes]:
        """Open the file, refusing UTF-16/UTF-32 and binary files with a clear error."""
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise FatalSourceError(f"source {self.name!r}: cannot open {self.path}: {exc.strerror}") from None
        head = handle.read(8192)
        handle.seek(0)
        for bom, name in _BOMS:
            if head.startswith(bom):
                handle.close()
                raise FatalSourceError(f"source {self.name!r}: {self.path} is {name}; convert it to UTF-8 "
                                       "(iconv -f UTF-16 -t UTF-8)")
        if head.count(b"\x00") * 10 > len(head) and len(head) >= 16:  # UTF-16 ASCII is every other byte NUL
            handle.close()
            raise FatalSourceError(f"source {self.name!r}: {self.path} holds NUL bytes: it is binary or UTF-16 "
                                   "without a byte-order mark, not a JSON Lines or CSV text file")
        return handle

    def _open(self, skip: int) -> None:
        self.close()
        self._handle = self._open_binary()
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
                horizon = datetime.now(UTC) + timedelta(days=1)
                with self._open_binary() as handle:
                    for _, record in self._records(handle):
                        if isinstance(record, MalformedResponse):
                            continue
                        try:
                            stamp = parse_time(record.get("created_at"))
                        except (ValueError, TypeError):
                            continue
                        if stamp > horizon:  # a hostile far-future time must not drag every other record
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
        rejected: list[Rejection] = []
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
                log.warning("source %s: skipped: %s", self.name, record)
                where = f"{self.path}:{line}"
                rejected.append(Rejection(location=where, reason=str(record).removeprefix(f"{where}: ")))
                continue
            try:
                mention = self._normalise(record)
            except (KeyError, ValueError, TypeError, OverflowError) as exc:
                reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, KeyError) else str(exc)
                if not self.skip_malformed:
                    self.close()
                    raise MalformedResponse(f"{self.path}:{line}: {reason}") from None
                log.warning("source %s: %s:%d skipped: %s", self.name, self.path, line, reason)
                rejected.append(Rejection(location=f"{self.path}:{line}", reason=reason, raw=record))
                continue
            if mention is not None:
                mentions.append(mention)
        self._position = start + read
        return Batch(tuple(mentions), str(start + read), exhausted=exhausted, rejected=tuple(rejected))

    # -- normalising ----------------------------------------------------------------------------------
    def _normalise(self, record: dict[str, Any]) -> Mention | None:
        if record.keys() >= TWCS_COLUMNS:
            return self._normalise_twcs(record)
        brand = record.get("brand")
        if self.filter_brand and brand and brand != self.brand:
            return None
        if _bool(record.get("from_brand", False)) and not self.options.get("brand_posts"):
            return None  # the brand's own post is never a customer's mention
        external_id = (_optional_str("id", record.get("id") or record.get("external_id")) or "").strip()
        if not external_id:
            raise ValueError("record has no id")
        text = record.get("text")
        if not isinstance(text, str):
            raise ValueError("text must be a string")
        network = _optional_str("network", record.get("network")) or self.default_network
        handle = _optional_str("author_handle", record.get("author_handle")) or "unknown"
        created_at = parse_time(record.get("created_at")) + self._time_shift()
        url = _optional_str("url", record.get("url")) or f"https://x.com/{handle}/status/{external_id}"
        return Mention(
            network=network,
            external_id=external_id,
            author_handle=handle,
            author_name=_optional_str("author_name", record.get("author_name")) or handle,
            author_followers=_int_or_none(record.get("author_followers")),
            author_verified=_bool(record.get("author_verified", False)),
            text=decode_entities(text) if network in ESCAPING_NETWORKS else text,
            language=_optional_str("language", record.get("lang") or record.get("language")),
            url=url,
            created_at=created_at,
            conversation_id=_optional_str("conversation_id", record.get("conversation_id")),
            parent_id=_optional_str("parent_id", record.get("parent_id")),
            reply_path=ReplyPath.OPEN_IN_APP,
            reply_path_reason="replayed from a file: answer it in the network's app",
            # `summoned` is the demo stream's name for it: the post @-mentions or quotes the brand
            addressed=_bool(record.get("addressed", record.get("summoned", False))),
            raw=record,
        )

    def _brand_accounts(self) -> set[str]:
        """The brand's own accounts, lower-cased: options.brand_handles, else options.mentions_handle."""
        named = self.options.get("brand_handles") or self.options.get("mentions_handle") or []
        return {str(h).lstrip("@").lower() for h in ([named] if isinstance(named, str) else named)}

    def _normalise_twcs(self, record: dict[str, Any]) -> Mention | None:
        tweet_id = str(record["tweet_id"]).strip()
        parent = (record.get("in_response_to_tweet_id") or "").strip() or None
        author = str(record["author_id"]).strip()
        if not _bool(record["inbound"]):
            # the brand's own post: kept (marked raw["from_brand"]) only with options.brand_posts, and only when
            # it is one of this brand's accounts (a shared export holds many brands)
            accounts = self._brand_accounts()
            if not self.options.get("brand_posts") or (accounts and author.lower() not in accounts):
                return None
            root = self._roots.get(parent, parent) if parent else tweet_id
            self._roots[tweet_id] = root or tweet_id
            return Mention(
                network=self.default_network, external_id=tweet_id, author_handle=author, author_name=author,
                text=decode_entities(record["text"]), url=f"https://x.com/{author}/status/{tweet_id}",
                created_at=parse_time(record["created_at"]) + self._time_shift(), conversation_id=root,
                parent_id=parent, reply_path=ReplyPath.BLOCKED,
                reply_path_reason="the brand's own post", raw={**record, "from_brand": True})
        handle = self.options.get("mentions_handle")
        if handle and f"@{str(handle).lstrip('@').lower()}" not in record["text"].lower():
            return None
        root = self._roots.get(parent, parent) if parent else tweet_id
        self._roots[tweet_id] = root or tweet_id
        return Mention(
            network=self.default_network,
            external_id=tweet_id,
            author_handle=author,
            author_name=author,
            text=decode_entities(record["text"]),  # exported from X: &amp; &lt; &gt; as X sends them
            url=f"https://x.com/{author}/status/{tweet_id}",
            created_at=parse_time(record["created_at"]) + self._time_shift(),
            conversation_id=root,
            parent_id=parent,
            reply_path=ReplyPath.OPEN_IN_APP,
            reply_path_reason="replayed from a file: answer it in the network's app",
            addressed=any(names_handle(record["text"], account) for account in
                          self._brand_accounts() | ({str(handle).lstrip("@")} if handle else set())),
            raw=record,
        )
