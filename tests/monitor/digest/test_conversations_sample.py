"""Issue 13: `brandmon backfill` of the shared Customer Support on Twitter sample gives the brand's true figures.

The cases the router stores while backfilling the sample (replay with `brand_posts: true`) must give, in each
brand's 2017-W44 digest, a response rate and a first-response p50 within 10% of the figures computed straight
from the CSV (root customer tweets to the brand in the week and the brand's first reply to each); and every
customer conversation in the CSV must land in exactly one stored case.
"""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.settings import Secrets
from core.settings.loading import parse_settings
from core.storage import Database
from core.storage.case_tables import CasePostRow
from core.storage.schema import MentionRow
from models.lexicon import LexiconClassifier
from monitor.digest.build import as_json, build_digest
from monitor.digest.weeks import IsoWeek
from monitor.pipeline import Pipeline
from monitor.pipeline.backfill import run_backfill
from sources.replay import parse_time
from tests.support.paths import DATA_DIR

SAMPLE = DATA_DIR / "conversations" / "twcs-sample.csv"
WEEK_START = datetime(2017, 10, 30, tzinfo=UTC)  # 2017-W44, Monday
WEEK_END = datetime(2017, 11, 6, tzinfo=UTC)
BRANDS = {"Amazon": "AmazonHelp", "Apple": "AppleSupport", "Chipotle": "ChipotleTweets"}

pytestmark = pytest.mark.skipif(not SAMPLE.exists(), reason="the shared conversations sample is not here")


def _rows() -> dict[str, dict[str, str]]:
    with SAMPLE.open(encoding="utf-8", newline="") as stream:
        return {r["tweet_id"]: r for r in csv.DictReader(stream)}


def _root(rows: dict[str, dict[str, str]], tweet_id: str) -> str:
    seen = {tweet_id}
    while (parent := rows[tweet_id]["in_response_to_tweet_id"]) in rows and parent not in seen:
        tweet_id = parent
        seen.add(parent)
    return tweet_id


def _csv_figures(handle: str) -> tuple[int, int, float]:
    """(customer conversations with the brand opened in the week, how many the brand answered, p50 minutes).

    Straight from the CSV: a conversation is the chain of `in_response_to_tweet_id` links inside the file; its root
    customer tweet is its first tweet from a customer that names the brand, and the answer is the brand's first
    tweet in that conversation after it.
    """
    rows = _rows()
    opened: dict[str, datetime] = {}
    brand: dict[str, list[datetime]] = {}
    for tweet_id, r in rows.items():
        at, thread = parse_time(r["created_at"]), _root(rows, tweet_id)
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


def _customer_conversations(handle: str) -> dict[tuple[str, str], set[str]]:
    """Each customer conversation with the brand in the CSV -> the ids of its customer tweets naming the brand.

    A conversation is a chain of replies; under a brand's own post that answers nobody (a broadcast such as
    Chipotle's costume day) each customer's replies are their own conversation, as they are to the brand's team.
    """
    rows = _rows()
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for tweet_id, r in rows.items():
        if r["inbound"] != "True" or f"@{handle.lower()}" not in r["text"].lower():
            continue
        root = _root(rows, tweet_id)
        broadcast = rows[root]["inbound"] == "False"
        found[(root, r["author_id"] if broadcast else "")].add(tweet_id)
    return found


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The sample backfilled for the three brands, as `brandmon backfill` does it."""
    path: Path = tmp_path_factory.mktemp("conversations") / "b.db"
    settings = parse_settings({
        "database_url": f"sqlite:///{path}",
        "brands": [{"name": brand, "query": handle.lower(), "handles": {"x": handle}}
                   for brand, handle in BRANDS.items()],
        "sources": [{"name": f"replay-{brand.lower()}", "type": "replay", "brand": brand,
                     "options": {"path": str(SAMPLE), "mentions_handle": handle, "brand_posts": True}}
                    for brand, handle in BRANDS.items()],
        "slack": {"enabled": False},
    }, origin="test.yaml")
    db = Database(settings.database_url)
    db.migrate()
    pipeline = Pipeline.from_settings(settings, db, secrets=Secrets(), classifier=LexiconClassifier())
    summary = run_backfill(pipeline)
    assert summary.routed == summary.classified > 0
    yield db
    db.dispose()


@pytest.mark.parametrize("brand", sorted(BRANDS))
def test_backfill_then_digest_gives_the_csv_figures(backfilled: Database, brand: str) -> None:
    """The Done-when of issue 13: each brand's 2017-W44 digest from the stored cases agrees with the CSV."""
    handle = BRANDS[brand]
    total, answered, p50 = _csv_figures(handle)
    digest = build_digest(backfilled, brand=brand, week=IsoWeek(2017, 44), now=WEEK_END, theme_embedder="tfidf",
                          brand_words=[handle])
    figures = digest.cases
    assert figures is not None and figures.first_response_p50_min is not None
    print(f"{brand} digest: brandmon {figures.responded}/{figures.cases} = {figures.response_rate:.3f}, "
          f"p50 {figures.first_response_p50_min:.1f} min; CSV {answered}/{total} = {answered / total:.3f}, "
          f"p50 {p50:.1f} min")
    assert figures.response_rate == pytest.approx(answered / total, rel=0.10)
    assert figures.first_response_p50_min == pytest.approx(p50, rel=0.10)
    data = as_json(digest)["cases"]
    assert (data["responded"], data["cases"]) == (figures.responded, figures.cases)
    assert data["first_response_p50_min"] == figures.first_response_p50_min
    assert sum(t["size"] for t in as_json(digest)["themes"]) <= figures.cases  # themes count cases, not posts


@pytest.mark.parametrize("brand", sorted(BRANDS))
def test_every_customer_conversation_is_exactly_one_stored_case(backfilled: Database, brand: str) -> None:
    handle = BRANDS[brand]
    with backfilled.session() as session:
        case_of = dict(session.execute(
            select(CasePostRow.external_id, CasePostRow.case_id)
            .join(MentionRow, MentionRow.id == CasePostRow.mention_id).where(MentionRow.brand == brand)).all())
        stored = set(session.scalars(select(MentionRow.external_id).where(MentionRow.brand == brand)).all())
        duplicates = session.execute(select(CasePostRow.external_id).group_by(CasePostRow.network,
                                                                              CasePostRow.external_id)
                                     .having(func.count() > 1)).all()
    assert not duplicates  # a post is in one case at most
    conversations = _customer_conversations(handle)
    assert conversations
    for key, tweets in conversations.items():
        ingested = tweets & stored
        assert ingested, f"conversation {key} was not read at all"
        cases = {case_of.get(tweet) for tweet in ingested}
        assert len(cases) == 1 and None not in cases, f"conversation {key} is in cases {cases}"
