"""Synthetic mentions for the benchmarks: a seeded mix of complaints, outages, praise and questions."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

BRAND = "Kestrel Mobile"
COMPETITOR = "Orbital Telecom"

_OPENERS = ("@KestrelMobile", "kestrel mobile", "Kestrel Mobile", "hey @KestrelMobile", "so kestrel mobile")
_BODIES = (
    "my bill went up again and nobody can tell me why",
    "no signal in {town} since this morning, is there an outage?",
    "the app keeps crashing when I try to pay",
    "thanks for sorting my sim swap so quickly, great service",
    "is the shop in {town} open on Sunday?",
    "I've been charged twice this month, refund please",
    "if this isn't fixed by Friday I'm porting my number to Orbital",
    "honestly the 5G in {town} is brilliant now",
    "waited 45 minutes on hold and got cut off",
    "my new phone arrived a day early, nice one",
    "roaming in {town} is not working at all",
    "can't log in to my account, keeps saying error 503",
)
_CLOSERS = ("", " #fail", " 😡", " 🙏", " !!", " ...", " cheers", " seriously")
_TOWNS = ("Leeds", "Bristol", "Cardiff", "Glasgow", "Norwich", "Derby", "York", "Bath", "Hull", "Exeter")


def synthetic_record(index: int, rng: random.Random, *, start: datetime, prefix: str = "bench") -> dict[str, object]:
    """Return one replay record (brandmon's JSON Lines field names) numbered `index`."""
    body = rng.choice(_BODIES).format(town=rng.choice(_TOWNS))
    brand = COMPETITOR if rng.random() < 0.1 else BRAND
    opener = "@OrbitalTelecom" if brand == COMPETITOR else rng.choice(_OPENERS)
    handle = f"user{rng.randrange(50_000)}"
    return {
        "id": f"{prefix}-{index}",
        "network": "x",
        "brand": brand,
        "author_handle": handle,
        "author_name": handle.title(),
        "author_followers": rng.choice((12, 150, 900, 4_000, 60_000)),
        "text": f"{opener} {body}{rng.choice(_CLOSERS)} (#{index})",
        "lang": "en",
        "created_at": (start + timedelta(seconds=index)).isoformat(),
    }


def write_mentions(path: Path, count: int, *, seed: int = 8, start: datetime | None = None,
                   prefix: str = "bench") -> Path:
    """Write `count` synthetic mentions as JSON Lines to `path` and return it."""
    rng = random.Random(seed)
    start = start or datetime(2026, 1, 5, tzinfo=UTC)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for index in range(count):
            record = synthetic_record(index, rng, start=start, prefix=prefix)
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path
