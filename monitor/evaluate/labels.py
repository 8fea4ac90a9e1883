"""The labels of a labelled stream: what each post is, as a person would say, to measure routing against.

A labelled stream is JSON Lines in the replay format (`id`, `text`, `brand`, `created_at`, `author_handle`, ...)
with any of these labels per post: `sentiment` (negative, neutral, positive), `complaint` (true/false), `category`
(an urgency category or a brand's own), `needs_reply` (respond, thank, none), `irony` and `scam` (true/false). A
label left out is unknown: the post is left out of the figures that need it. Posts of the bundled demo stream
carry a `demo_label` instead, read through `monitor.demo.labels`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.base import NEEDS_REPLY, SENTIMENTS

LABEL_FIELDS = ("sentiment", "complaint", "category", "needs_reply", "irony", "scam")
REQUIRED_FIELDS = ("id", "text", "brand", "created_at")


class StreamError(ValueError):
    """A labelled stream that cannot be used; the message names the file, the line and the field."""


@dataclass(frozen=True, slots=True)
class Labels:
    """What a post is, by a person's reading; None where the stream does not say."""

    sentiment: str | None = None
    complaint: bool | None = None
    category: str | None = None
    needs_reply: str | None = None
    irony: bool | None = None
    scam: bool | None = None

    def needs_action(self) -> bool | None:
        """Say whether the team should act on the post: a reply is needed, else a complaint, else negativity.

        A scam needs the security team, not a reply, an alert to the care team or a thank-you.
        """
        if self.scam:
            return False
        if self.needs_reply is not None:
            return self.needs_reply == "respond"
        if self.complaint is not None:
            return self.complaint
        if self.sentiment is not None:
            return self.sentiment == "negative"
        return None

    def wants_thanks(self) -> bool | None:
        """Say whether the post belongs on the thank-you list: praise that asks for nothing else."""
        if self.scam:
            return False
        if self.needs_reply is not None:
            return self.needs_reply == "thank"
        if self.sentiment is not None:
            return self.sentiment == "positive" and not self.complaint
        return None

    def as_dict(self) -> dict[str, Any]:
        """Return the labels the stream gave, as JSON values."""
        return {name: getattr(self, name) for name in LABEL_FIELDS if getattr(self, name) is not None}


def _flag(name: str, value: Any, where: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise StreamError(f"{where}: {name} must be true or false, got {value!r}")


def parse_labels(record: Mapping[str, Any], where: str) -> Labels:
    """Return the labels of one stream record: its label fields, on top of its `demo_label` where it has one."""
    raw: dict[str, Any] = {}
    if record.get("demo_label") is not None:
        from monitor.demo.labels import demo_labels

        try:
            raw.update(demo_labels(record))
        except KeyError as exc:
            raise StreamError(f"{where}: demo_label {record.get('demo_label')!r} is not one of the demo's") from exc
    raw.update({name: record[name] for name in LABEL_FIELDS if name in record})
    sentiment, needs_reply, category = raw.get("sentiment"), raw.get("needs_reply"), raw.get("category")
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise StreamError(f"{where}: sentiment must be one of {', '.join(SENTIMENTS)}, got {sentiment!r}")
    if needs_reply is not None and needs_reply not in NEEDS_REPLY:
        raise StreamError(f"{where}: needs_reply must be one of {', '.join(NEEDS_REPLY)}, got {needs_reply!r}")
    if category is not None and (not isinstance(category, str) or not category.strip()):
        raise StreamError(f"{where}: category must be a category name, got {category!r}")
    return Labels(sentiment=sentiment, complaint=_flag("complaint", raw.get("complaint"), where),
                  category=category, needs_reply=needs_reply, irony=_flag("irony", raw.get("irony"), where),
                  scam=_flag("scam", raw.get("scam"), where))


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """Where one post of the stream is, which brand it is about, and its labels."""

    line: int
    network: str
    external_id: str
    brand: str
    labels: Labels
    #: The brand's own post (`from_brand`): routed as the brand's answer, never measured.
    from_brand: bool = False


def json_object(line: str, where: str) -> dict[str, Any]:
    """Return one JSON Lines line as an object; raise StreamError naming `where` ("file:line") when it is none."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise StreamError(f"{where}: not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(record, dict):
        raise StreamError(f"{where}: each line must be a JSON object")
    return record


def read_stream(path: Path, *, brands: set[str], limit: int | None = None,
                default_network: str = "x") -> tuple[list[StreamRecord], dict[str, int]]:
    """Read and check a labelled stream; return its records of configured brands and the skipped counts by brand.

    Raises `StreamError` naming the line for a record that is not JSON, lacks a required field or has a bad label.
    """
    records: list[StreamRecord] = []
    skipped: dict[str, int] = {}
    try:
        handle = path.open(encoding="utf-8-sig")
    except OSError as exc:
        raise StreamError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if limit is not None and len(records) >= limit:
                break
            where = f"{path}:{number}"
            record = json_object(line, where)
            for name in REQUIRED_FIELDS:
                if record.get(name) in (None, ""):
                    raise StreamError(f"{where}: {name} is missing (a labelled stream needs "
                                      f"{', '.join(REQUIRED_FIELDS)})")
            brand = str(record["brand"])
            if brand not in brands:
                skipped[brand] = skipped.get(brand, 0) + 1
                continue
            network = str(record.get("network") or default_network)
            records.append(StreamRecord(number, network, str(record["id"]).strip(), brand,
                                        parse_labels(record, where), from_brand=record.get("from_brand") is True))
    if not records:
        raise StreamError(f"{path}: no post of a configured brand ({', '.join(sorted(brands))})")
    return records, skipped
