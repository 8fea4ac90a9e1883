"""The demo stream's labels for `brandmon evaluate --stream`: every post has them, and they point at real posts."""

from __future__ import annotations

import json
from collections import Counter

from monitor.demo import SAMPLE_STREAM
from monitor.demo.labels import CATEGORIES, DEMO_LABELS, OUTAGE_NOTICES, OUTAGE_RECOVERED, SCAMS, demo_labels
from monitor.evaluate.labels import parse_labels

RECORDS = [json.loads(line) for line in SAMPLE_STREAM.read_text(encoding="utf-8").splitlines() if line.strip()]
BY_ID = {r["id"]: r for r in RECORDS}


def test_every_demo_label_is_mapped_and_every_post_parses() -> None:
    assert {r["demo_label"] for r in RECORDS} == set(DEMO_LABELS)
    for number, record in enumerate(RECORDS, start=1):
        parse_labels(record, f"sample_stream.jsonl:{number}")


def test_the_per_post_readings_name_posts_of_the_right_kind() -> None:
    assert all(BY_ID[post]["demo_label"] in ("outage",) for post in OUTAGE_NOTICES | OUTAGE_RECOVERED)
    assert all(BY_ID[post]["demo_label"] == "spam" for post in SCAMS)
    assert all(post in BY_ID for post in CATEGORIES)


def test_every_own_complaint_has_a_category() -> None:
    own = [r for r in RECORDS if r["brand"] == "Kestrel Mobile"
           and (r["demo_label"].startswith("complaint_") or r["demo_label"] in ("sarcasm", "outage"))]
    assert all(demo_labels(r).get("category") not in (None, "none") for r in own)
    counts = Counter(demo_labels(r)["category"] for r in own)
    assert counts["outage"] == 68 + 25 and counts["safety"] == 10


def test_notices_of_the_outage_ask_for_nothing_and_scams_are_flagged() -> None:
    notice = demo_labels(BY_ID[next(iter(OUTAGE_NOTICES))])
    assert notice["needs_reply"] == "none" and notice["complaint"] is False and notice["category"] == "outage"
    assert all(demo_labels(BY_ID[post])["scam"] for post in SCAMS)
    assert sum(bool(demo_labels(r).get("scam")) for r in RECORDS) == len(SCAMS)
