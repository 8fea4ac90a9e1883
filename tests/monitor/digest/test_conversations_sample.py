"""Issue 13: replaying the shared Customer Support on Twitter sample gives the brand's true response figures.

The figures brandmon builds from cases (replay with `brand_posts: true`, then `monitor/queue/cases.py`) must agree
within 10% with the figures computed straight from the CSV: root customer tweets to the brand in 2017-W44 and the
brand's first reply to each; and every customer conversation in the CSV lands in exactly one case.
"""

from __future__ import annotations

import csv
import statistics
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.settings import Secrets
from core.settings.loading import parse_settings
from core.storage import Database
from models.lexicon import LexiconClassifier
from monitor.digest.build import as_json, build_digest
from monitor.digest.weeks import IsoWeek
from monitor.pipeline import Pipeline
from monitor.pipeline.backfill import run_backfill
from monitor.queue.cases import Case, build_cases, case_figures, post_from_mention
from sources.replay import ReplaySource, parse_time
from tests.support.paths import DATA_DIR

SAMPLE = DATA_DIR / "conversations" / "twcs-sample.csv"
WEEK_START = datetime(2017, 10, 30, tzinfo=UTC)  # 2017-W44, Monday
WEEK_END = datetime(2017, 11, 6, tzinfo=UTC)
BRANDS = {"Amazon": "AmazonHelp", "Apple": "AppleSupport", "Chipotle": "ChipotleTweets"}

pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason="the shared conversations sample is not here")


def _csv_figures(handle: str) -> tuple[int, int, float]:
    """(customer conversations with the brand opened in the week, how many the brand answered, p50 minutes).

    Straight from the CSV: a conversation is the chain of `in_response_to_tweet_id` links inside the file; its root
    customer tweet is its first tweet from a customer that names the brand, and the answer is the brand's first
    tweet in that conversation after it.
    """
    with SAMPLE.open(encoding="utf-8", newline="") as stream:
        rows = {r["tweet_id"]: r for r in csv.DictReader(stream)}

    def root(tweet_id: str) -> str:
        seen = {tweet_id}
        while (parent := rows[tweet_id]["in_response_to_tweet_id"]) in rows and parent not in seen:
            tweet_id = parent
            seen.add(parent)
        return tweet_id

    opened: dict[str, datetime] = {}
    brand: dict[str, list[datetime]] = {}
    for tweet_id, r in rows.items():
        at, thread = parse_time(r["created_at"]), root(tweet_id)
        if r["inbound"] == "True" and f"@{handle.lower()}" in r["text"].lower():
            opened[thread] = min(opened.get(thread, at), at)
        elif r["inbound"] == "False" and r["author_id"] == handle:
            brand.setdefault(thread, []).append(at)
    week = {t: at for t, at in opened.items() if WEEK_START <= at < WEEK_END}
    waits = []
    for thread, at in week.items():
        after = [b for b in brand.get(thread, []) if b >= at]
        if after:
            waits.append((min(after) - at).total_seconds() / 60)
    return len(week), len(waits), statistics.median(waits)


def _replayed_cases(brand: str, handle: str) -> list[Case]:
    source = ReplaySource(name=f"replay-{brand}", brand=brand,
                          options={"path": str(SAMPLE), "mentions_handle": handle, "brand_posts": True})
    posts, cursor = [], None
    try:
        while True:
            batch = source.poll(cursor)
            posts.extend(post_from_mention(m, [handle]) for m in batch.mentions)
            cursor = batch.cursor
            if batch.exhausted:
                break
    finally:
        source.close()
    return build_cases(posts)


@pytest.mark.parametrize("brand", sorted(BRANDS))
def test_case_figures_agree_with_the_csv(brand: str) -> None:
    handle = BRANDS[brand]
    total, answered, p50 = _csv_figures(handle)
    cases = [c for c in _replayed_cases(brand, handle) if WEEK_START <= c.opened_at < WEEK_END]
    figures = case_figures(cases)
    print(f"{brand}: CSV {answered}/{total} = {answered / total:.3f}, p50 {p50:.1f} min; "
          f"brandmon {figures.responded}/{figures.cases} = {figures.response_rate:.3f}, "
          f"p50 {figures.first_response_p50_min:.1f} min")
    assert figures.response_rate == pytest.approx(answered / total, rel=0.10)
    assert figures.first_response_p50_min == pytest.approx(p50, rel=0.10)


@pytest.mark.parametrize("brand", sorted(BRANDS))
def test_every_customer_conversation_is_exactly_one_case(brand: str) -> None:
    handle = BRANDS[brand]
    cases = _replayed_cases(brand, handle)
    owner: dict[str, int] = {}
    for case in cases:
        for post in case.posts:
            assert post.id not in owner, f"post {post.id} is in cases {owner[post.id]} and {case.id}"
            owner[post.id] = case.id
    for case in cases:
        for thread in case.threads:
            assert sum(thread in c.threads for c in cases) == 1
    assert len({c.customer for c in cases}) <= len(cases)


def test_backfill_then_digest_gives_the_csv_figures_per_brand(tmp_path: Path) -> None:
    """The Done-when of issue 13: `brandmon backfill` of the sample, then each brand's 2017-W44 digest."""
    settings = parse_settings({
        "database_url": f"sqlite:///{tmp_path / 'b.db'}",
        "brands": [{"name": brand, "query": handle.lower(), "handles": {"x": handle}}
                   for brand, handle in BRANDS.items()],
        "sources": [{"name": f"replay-{brand.lower()}", "type": "replay", "brand": brand,
                     "options": {"path": str(SAMPLE), "mentions_handle": handle, "brand_posts": True}}
                    for brand, handle in BRANDS.items()],
        "slack": {"enabled": False},
    }, origin="test.yaml")
    db = Database(settings.database_url)
    db.migrate()
    try:
        pipeline = Pipeline.from_settings(settings, db, secrets=Secrets(), classifier=LexiconClassifier())
        run_backfill(pipeline)
        week = IsoWeek(2017, 44)
        for brand, handle in BRANDS.items():
            total, answered, p50 = _csv_figures(handle)
            digest = build_digest(db, brand=brand, week=week, now=WEEK_END, theme_embedder="tfidf",
                                  brand_words=[handle])
            figures = digest.cases
            assert figures is not None
            print(f"{brand} digest: brandmon {figures.responded}/{figures.cases}, "
                  f"p50 {figures.first_response_p50_min:.1f} min; CSV {answered}/{total}, p50 {p50:.1f} min")
            assert figures.response_rate == pytest.approx(answered / total, rel=0.10)
            assert figures.first_response_p50_min == pytest.approx(p50, rel=0.10)
            assert as_json(digest)["cases"]["responded"] == figures.responded
    finally:
        db.dispose()
