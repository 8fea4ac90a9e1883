"""Issue 14: corrections a responder makes into the brand's own category are what `brandmon train --corrections`
learns that category from (the real default classifier, with the brand's categories on the encoder)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from core.settings import load_settings
from core.storage import Database
from models.base import Post
from models.category_corrections import brand_categories_file, load_category_feedback
from models.transformer import TransformerClassifier
from monitor.cli import main
from monitor.pipeline import build_classifier
from monitor.queue.categories import brand_categories
from monitor.queue.reclassify import reclassify
from tests.support.alerts import Post as Stored
from tests.support.alerts import store
from tests.support.streams import write_config

#: Acme's customers post these again and again (written by us); the second kind is in no category of Acme's.
POINTS = "@acme my loyalty points vanished from the app again, order {n}"
LIFT = "@acme the lift at your Leeds store has been broken for {n} days"
LOYALTY: dict[str, Any] = {
    "name": "loyalty", "weight": 0.7,
    "description": "The customer's loyalty scheme: reward points, vouchers, member tiers and their balance.",
    "examples": ["where are the reward points from my last shop?", "my member voucher code was rejected",
                 "how do I move up to the gold tier?", "the points balance on my card is wrong",
                 "I never got the birthday voucher the scheme promised"]}


def test_corrections_into_a_brand_category_teach_it_through_train_corrections(tmp_path: Path) -> None:
    config = write_config(tmp_path / "brandmon.yaml", extra={
        "brands": [{"name": "Acme", "query": "acme", "handles": {"x": "acme"}, "categories": [LOYALTY]},
                   {"name": "Orbital", "query": "orbital", "own": False}],
        "classifier": {"kind": "transformer", "data_dir": str(tmp_path / "data")}})
    settings = load_settings(config)
    db = Database(settings.database_url)
    db.migrate()
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    try:
        posts = [Stored(POINTS.format(n=100 + n) if n % 2 else LIFT.format(n=n), at=at + timedelta(minutes=n),
                        brand="Acme", category="outage") for n in range(1, 25)]
        for n, mention_id in enumerate(store(db, posts), start=1):
            reclassify(db, mention_id, "amira", sla=settings.sla, categories=brand_categories(settings.brands),
                       urgency_category="loyalty" if n % 2 else "none", now=at + timedelta(hours=1))
    finally:
        db.dispose()
    result = CliRunner().invoke(main, ["train", "--corrections", "-c", str(config)])
    assert result.exit_code == 0, result.stderr
    # the held-out check reads the brand category by its name: all 6 right (as "other": only the one lift post)
    assert "accuracy 1.000 on 6 held-out corrections" in result.stdout
    feedback, _ = load_category_feedback(brand_categories_file(settings.classifier.data_dir, "Acme"))
    taught = {f.name: f for f in feedback}
    # the seeded split holds out 5 of the 12 points posts; the other 7 are the category's new exemplars
    assert len(taught["loyalty"].examples) == 7 and all("loyalty points" in t for t in taught["loyalty"].examples)
    classifier = build_classifier(load_settings(config))
    assert isinstance(classifier, TransformerClassifier)
    (fresh,) = classifier.classify([Post(POINTS.format(n=9999), "en", "Acme")])
    assert (fresh.category, fresh.urgency_category) == ("loyalty", "other")
