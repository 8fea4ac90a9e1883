"""A record the database still refuses is quarantined with its raw payload; the rest is stored, the cursor moves."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from core.domain import Batch, Mention, Rejection
from core.storage import Database
from core.storage.quarantine_tables import SourceRejectRow, reject_counts
from core.storage.schema import MentionRow, SourceStateRow
from monitor.pipeline.ingest import store_batch
from sources.base import Source

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class ListSource(Source):
    """A source whose batches the test stores directly."""

    network = "x"

    def poll(self, cursor: str | None) -> Batch:
        raise NotImplementedError


def mention(external_id: str) -> Mention:
    return Mention(network="x", external_id=external_id, author_handle="jo", author_name="Jo", text="kestrel down",
                   created_at=datetime(2026, 3, 1, 8, 0, tzinfo=UTC), url=f"https://x.com/jo/status/{external_id}",
                   raw={"id": external_id, "payload": "kept"})


def test_a_poison_record_is_quarantined_and_the_cursor_moves_on(db: Database) -> None:
    source = ListSource(name="s", brand="Kestrel", options={})
    poison = mention("2")
    # past the Mention's own checks (as a future bug might be): bigger than PostgreSQL's and SQLite's integers
    object.__setattr__(poison, "author_followers", 2**64)
    batch = Batch((mention("1"), poison, mention("3")), "c2",
                  rejected=(Rejection(location="file.jsonl:9", reason="not valid JSON", raw=None),))
    assert store_batch(db, source, batch, now=NOW) == 2
    with db.session() as session:
        ids = session.execute(select(MentionRow.external_id).order_by(MentionRow.external_id)).scalars().all()
        assert ids == ["1", "3"]
        assert session.get(SourceStateRow, "s").cursor == "c2"  # type: ignore[union-attr]
        rows = session.execute(select(SourceRejectRow).order_by(SourceRejectRow.id)).scalars().all()
        assert [(r.kind, r.location) for r in rows] == [("rejected", "file.jsonl:9"), ("quarantined", "x:2")]
        assert rows[1].raw == {"id": "2", "payload": "kept"} and rows[1].reason and rows[1].cursor == "c2"
        assert reject_counts(session) == {"s": {"rejected": 1, "quarantined": 1}}
    # the next batch is stored normally
    assert store_batch(db, source, Batch((mention("4"),), "c3"), now=NOW) == 1
    with db.session() as session:
        assert session.execute(select(func.count()).select_from(MentionRow)).scalar() == 3
