"""A brand's own category ("roaming") is stored with its probability, copied to the queue item, shown on the queue
and item pages and in Slack alerts, matched by routes that list it, counted by the digest and set by a correction;
migration 0011 upgrades a database made before it, whose rows keep working."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert, inspect, select

from alerts.slack_render import alert_blocks
from core.domain import Batch
from core.settings import Secrets, Settings
from core.storage import Database, insert_ignore
from core.storage.queue_tables import LabelledExampleRow
from core.storage.schema import AlertRow, ClassificationRow, MentionRow, OutboxRow, QueueItemRow
from monitor.digest.data import load_posts
from monitor.digest.themes import build_embedder, find_themes, stop_words
from monitor.pipeline.classify import classify_pending
from monitor.pipeline.ingest import store_batch
from monitor.pipeline.route import route_pending
from monitor.pipeline.route.rules import RoutingFacts, rule_matches
from monitor.queue.categories import brand_categories
from monitor.queue.items import audit_trail, get_entry
from monitor.queue.reclassify import reclassify
from monitor.web import create_app
from monitor.web.auth import add_user
from tests.support.categories import CATEGORIES, OUTAGE, ROAMING, FakeCategories
from tests.support.migrations import alembic, store_mention_without
from tests.support.queue import BRAND, NOW, PostingSource, StoredOnlySource, post
from tests.support.settings import make_settings
from tests.support.web import PASSWORD, login

BRANDS = [{"name": BRAND, "query": "kestrel", "handles": {"x": "KestrelMobile"}, "competitors": ["Orbital Telecom"],
           "categories": CATEGORIES},
          {"name": "Orbital Telecom", "query": "orbital", "own": False}]
ROUTES = [{"name": "roaming-desk", "channel": "#care-roaming", "urgency_categories": ["roaming"],
           "keep_matching": True},
          {"name": "complaints", "channel": "#care-complaints", "complaint": True}]


def _settings() -> Settings:
    return make_settings(brands=BRANDS, slack={"messages_per_second": 1000, "routes": ROUTES})


def _ingest(db: Database, settings: Settings, texts: dict[str, str], *, minutes_ago: int = 5) -> dict[str, int]:
    """Store, classify (with `FakeCategories`) and route posts; return external id -> mention id."""
    mentions = [post(key, text, handle=f"user{key}", minutes_ago=minutes_ago) for key, text in texts.items()]
    store_batch(db, StoredOnlySource(name="x-kestrel", brand=BRAND, options={}), Batch(tuple(mentions), None),
                now=NOW)
    classify_pending(db, FakeCategories(), settings.sla, now=NOW)
    route_pending(db, settings, now=NOW)
    with db.session() as session:
        return dict(session.execute(select(MentionRow.external_id, MentionRow.id)
                                    .where(MentionRow.external_id.in_(list(texts)))).all())


def _item(db: Database, mention_id: int) -> QueueItemRow:
    with db.session() as session:
        item = session.scalar(select(QueueItemRow).where(QueueItemRow.mention_id == mention_id))
    assert item is not None
    return item


def _scores(db: Database, mention_id: int) -> ClassificationRow:
    with db.session() as session:
        scores = session.get(ClassificationRow, mention_id)
    assert scores is not None
    return scores


def test_a_brand_category_is_stored_with_its_probability_and_words_and_its_item_keeps_it(db: Database) -> None:
    settings = _settings()
    ids = _ingest(db, settings, {"1": ROAMING, "2": OUTAGE})
    roaming, outage = _scores(db, ids["1"]), _scores(db, ids["2"])
    assert (roaming.category, roaming.category_prob, roaming.urgency_category) == ("roaming", 0.83, "other")
    assert roaming.explanation["urgency"] == ["roaming", "abroad"]  # the words that drove the category
    assert (outage.category, outage.category_prob, outage.urgency_category) == ("outage", 1.0, "outage")
    assert (_item(db, ids["1"]).category, _item(db, ids["1"]).urgency_category) == ("roaming", "other")
    assert _item(db, ids["2"]).category == "outage"


def test_a_route_listing_a_brand_category_matches_it_and_the_alert_shows_its_name(db: Database) -> None:
    settings = _settings()
    ids = _ingest(db, settings, {"1": ROAMING, "2": OUTAGE})
    with db.session() as session:
        rules = {(m, r) for m, r in session.execute(select(AlertRow.mention_id, AlertRow.rule)).all()}
        payloads = [row.payload for row in session.scalars(select(OutboxRow).where(OutboxRow.channel
                                                                                   == "#care-roaming"))]
    assert (ids["1"], "roaming-desk") in rules and (ids["2"], "roaming-desk") not in rules
    assert (ids["1"], "complaints") in rules  # keep_matching: the other rules still see it
    [payload] = payloads
    assert (payload["category"], payload["urgency_category"]) == ("roaming", "other")
    fallback, blocks = alert_blocks(payload)
    headline = blocks[0]["text"]["text"]
    assert "roaming" in headline and "other" not in headline and fallback.startswith("HIGH roaming")
    assert "(roaming)" in str(blocks[2])  # the urgency field names it too


def test_rule_matches_either_name_and_a_rule_listing_other_still_takes_brand_categories() -> None:
    rules = {rule.name: rule for rule in make_settings(slack={"routes": [
        {"name": "roaming", "channel": "#a", "urgency_categories": ["roaming"]},
        {"name": "other", "channel": "#b", "urgency_categories": ["other"]},
        {"name": "outage", "channel": "#c", "urgency_categories": ["outage"]}]}).slack.routes}

    def facts(urgency_category: str, category: str | None) -> RoutingFacts:
        return RoutingFacts(brand=BRAND, network="x", sentiment="negative", complaint=True,
                            urgency_category=urgency_category, urgency_score=0.7, author_followers=10,
                            author_verified=False, language="en", needs_human=False, text="roaming", category=category)

    brand_own, built_in, old_row = facts("other", "roaming"), facts("outage", "outage"), facts("outage", None)
    assert [name for name, rule in rules.items() if rule_matches(rule, brand_own)] == ["roaming", "other"]
    assert [name for name, rule in rules.items() if rule_matches(rule, built_in)] == ["outage"]
    assert [name for name, rule in rules.items() if rule_matches(rule, old_row)] == ["outage"]


def test_the_queue_table_and_item_page_show_the_brand_category_and_its_probability(db: Database) -> None:
    settings = _settings()
    ids = _ingest(db, settings, {"1": ROAMING})
    item_id = _item(db, ids["1"]).id
    add_user(db, "ana", PASSWORD, role="responder")
    source = PostingSource()
    app = create_app(settings, db, sources={source.name: source}, clock=lambda: NOW,
                     secrets_=Secrets.model_validate({"web_session_secret": "test-only-session-key"}))
    with TestClient(app) as client:
        login(client, "ana")
        queue, page = client.get("/").text, client.get(f"/items/{item_id}").text
    assert "<small>roaming</small>" in queue
    assert "high · roaming · respond" in page and "category roaming 83%" in page
    assert get_entry(db, item_id).item.category == "roaming"


def test_the_digest_counts_posts_under_the_brand_category(db: Database) -> None:
    settings = _settings()
    texts = {str(n): f"{ROAMING} (day {n})" for n in range(1, 5)} | {"9": OUTAGE}
    _ingest(db, settings, texts)
    posts = load_posts(db, [BRAND], NOW - timedelta(days=1), NOW)
    assert sorted(p.shown_category or "" for p in posts) == ["outage"] + ["roaming"] * 4
    stop = stop_words([BRAND, "KestrelMobile"])
    [theme] = find_themes(posts, None, embedder=build_embedder("tfidf", stop=stop)[0], stop=stop, max_themes=1)
    assert theme.top_category == "roaming"


def _correct(db: Database, settings: Settings, mention_id: int, **labels: Any) -> LabelledExampleRow:
    return reclassify(db, mention_id, "ana", sla=settings.sla, categories=brand_categories(settings.brands),
                      now=NOW + timedelta(minutes=1), **labels)


def test_a_correction_sets_the_category_by_name_and_one_that_leaves_it_keeps_it(db: Database) -> None:
    settings = _settings()
    ids = _ingest(db, settings, {"1": OUTAGE})
    example = _correct(db, settings, ids["1"], urgency_category="roaming")
    scores, item = _scores(db, ids["1"]), _item(db, ids["1"])
    assert example.urgency_category == "roaming"
    assert (scores.category, scores.category_prob, scores.urgency_category) == ("roaming", 1.0, "other")
    assert (item.category, item.urgency_category) == ("roaming", "other")
    detail = audit_trail(db, item_id=item.id)[0].detail
    assert detail["item"]["category"] == ["outage", "roaming"]
    _correct(db, settings, ids["1"], sentiment="neutral")  # leaves the category alone
    assert (_scores(db, ids["1"]).category, _item(db, ids["1"]).category) == ("roaming", "roaming")
    _correct(db, settings, ids["1"], urgency_category="billing")
    scores, item = _scores(db, ids["1"]), _item(db, ids["1"])
    assert (scores.category, scores.urgency_category, item.category, item.urgency_category) == ("billing",) * 4


def test_a_correction_of_a_post_the_model_put_in_a_brand_category_starts_from_it(db: Database) -> None:
    settings = _settings()
    ids = _ingest(db, settings, {"1": ROAMING})
    example = _correct(db, settings, ids["1"], complaint=False)
    assert example.urgency_category == "roaming" and example.model_labels["category"] == "roaming"
    scores = _scores(db, ids["1"])
    assert (scores.category, scores.category_prob) == ("roaming", 0.83)  # the model's, not corrected


def _columns(db: Database, table: str) -> set[str]:
    return {column["name"] for column in inspect(db.engine).get_columns(table)}


def test_migration_0011_upgrades_a_database_made_before_it_and_downgrades(database_url: str) -> None:
    db = Database(database_url)
    try:
        alembic(db, "upgrade", "0010_languages")
        assert "category" not in _columns(db, "classifications")
        settings = _settings()
        # the post as a database of 0010 took it: `mentions.addressed` comes with 0012
        mention_id = store_mention_without(db, post("1", OUTAGE, minutes_ago=5), ("addressed",), brand=BRAND,
                                           source_name="x-kestrel", now=NOW)
        with db.session() as session:
            insert_ignore(session, ClassificationRow, [{
                "mention_id": mention_id, "model": "before-0011", "sentiment": "negative",
                "sentiment_probs": {"negative": 0.9}, "complaint": True, "complaint_prob": 0.9, "severity": 2,
                "urgency_score": 0.7, "urgency_category": "outage", "urgency_level": "high", "language": "en",
                "needs_human": False, "needs_human_reason": None, "matched_query": True, "explanation": {},
                "classified_at": NOW}], conflict=("mention_id",))
            session.execute(insert(QueueItemRow).values(
                mention_id=mention_id, brand=BRAND, kind="respond", status="new", urgency_score=0.7,
                urgency_level="high", urgency_category="outage", first_response_due=NOW + timedelta(minutes=30),
                resolution_due=NOW + timedelta(hours=4), created_at=NOW, updated_at=NOW, version=1))
        db.migrate()
        assert db.is_current()
        assert {"category", "category_prob"} <= _columns(db, "classifications")
        assert "category" in _columns(db, "queue_items")
        old, item = _scores(db, mention_id), _item(db, mention_id)
        assert (old.category, old.category_prob, item.category) == (None, None, None)  # NULL: as urgency_category
        _correct(db, settings, mention_id, urgency_category="roaming")  # the old rows keep working
        assert (_scores(db, mention_id).category, _item(db, mention_id).category) == ("roaming", "roaming")
        alembic(db, "downgrade", "0010_languages")
        assert "category" not in _columns(db, "classifications") | _columns(db, "queue_items")
        assert "category_prob" not in _columns(db, "classifications")
        with db.engine.connect() as connection:
            kept = connection.execute(select(QueueItemRow.__table__.c.urgency_category)).scalars().all()
        assert kept == ["other"]
        db.migrate()
        assert db.is_current()
    finally:
        db.dispose()
