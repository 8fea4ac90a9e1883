"""`python -m monitor.demo.relevance_set`: real answered tweets and off-topic tweets, clicked through the queue."""

from __future__ import annotations

from pathlib import Path

from core.settings import load_settings
from core.storage import Database
from monitor.demo.relevance_set import answered_posts, build
from monitor.queue.relevance_clicks import load_clicks


def test_the_click_set_holds_what_the_brand_answered_and_off_topic_posts(shared_data: Path, tmp_path: Path) -> None:
    twcs = shared_data / "conversations" / "twcs-sample.csv"
    answered = answered_posts(twcs, "Tesco")
    assert answered and all(row["inbound"] == "True" for row in answered)
    stored = build(tmp_path, [("Tesco", "tesco")], twcs=twcs, tweets=shared_data / "sentiment" / "tweeteval-test.jsonl",
                   ratio=0.5)
    db = Database(load_settings(tmp_path / "brandmon.yaml").database_url)
    clicks = load_clicks(db, "Tesco")
    db.dispose()
    assert sum(c.not_relevant for c in clicks) == stored["Tesco"]["not_relevant"] > 0
    assert sum(not c.not_relevant for c in clicks) == stored["Tesco"]["relevant"] > 0
    assert not any("@Tesco" in c.text for c in clicks)  # every handle is "@user"
    assert not any("tesco" in c.text.lower() for c in clicks if c.not_relevant)
