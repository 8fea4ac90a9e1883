"""Storage on both backends: migrations, the uniqueness that makes re-ingest a no-op, UTC round-trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from core.domain import Batch, Mention
from core.storage import Database
from core.storage.schema import MentionRow, SourceStateRow
from monitor.pipeline.ingest import store_batch
from sources.base import Source

CORE_TABLES = {"mentions", "source_state", "classifications", "routings", "alerts", "outbox", "queue_items",
               "replies", "audit_log"}


class ListSource(Source):
    """A source over an in-memory list, for storage tests."""

    network = "x"

    def poll(self, cursor: str | None) -> Batch:
        raise NotImplementedError("storage tests store batches directly")


def mention(external_id: str, *, text_: str = "kestrel is down again", when: datetime | None = None) -> Mention:
    return Mention(
        network="x",
        external_id=external_id,
        author_handle="jo",
        author_name="Jo",
        text=text_,
        created_at=when or datetime(2026, 11, 19, 8, 0, tzinfo=UTC),
        url=f"https://x.com/jo/status/{external_id}",
        raw={"id": external_id, "nested": {"lang": "en"}},
    )


def test_migrations_create_every_core_table_and_are_current(db: Database) -> None:
    assert set(db.table_names()) >= CORE_TABLES
    assert db.is_current()
    db.migrate()  # a second run is a no-op
    assert db.is_current()


def test_sqlite_runs_in_wal_mode(sqlite_db: Database) -> None:
    with sqlite_db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_reingesting_the_same_batch_is_a_no_op_and_advances_the_cursor(db: Database) -> None:
    source = ListSource(name="x-kestrel", brand="Kestrel Mobile", options={})
    now = datetime(2026, 11, 19, 9, 0, tzinfo=UTC)
    first = store_batch(db, source, Batch((mention("1"), mention("2")), "c1"), now=now)
    again = store_batch(db, source, Batch((mention("2"), mention("3")), "c2"), now=now)
    assert (first, again) == (2, 1)
    with db.session() as session:
        ids = session.execute(select(MentionRow.external_id).order_by(MentionRow.external_id)).scalars().all()
        state = session.get(SourceStateRow, "x-kestrel")
    assert ids == ["1", "2", "3"]
    assert state is not None and state.cursor == "c2"


def test_times_round_trip_as_aware_utc_and_raw_payload_is_kept(db: Database) -> None:
    source = ListSource(name="s", brand="Kestrel Mobile", options={})
    local = datetime(2026, 11, 19, 10, 30, tzinfo=UTC).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    store_batch(db, source, Batch((mention("9", when=local),), None), now=datetime.now(UTC))
    with db.session() as session:
        row = session.execute(select(MentionRow)).scalar_one()
    assert row.created_at == datetime(2026, 11, 19, 10, 30, tzinfo=UTC)
    assert row.created_at.tzinfo is not None and row.created_at.utcoffset() == timedelta(0)
    assert row.raw == {"id": "9", "nested": {"lang": "en"}}


def test_hostile_text_is_stored_without_error(db: Database) -> None:
    source = ListSource(name="s", brand="Kestrel Mobile", options={})
    nasty = "nul\x00 lone\ud800surrogate \u202eevil <!channel> " + "x" * 100_000
    store_batch(db, source, Batch((mention("h", text_=nasty),), None), now=datetime.now(UTC))
    with db.session() as session:
        stored = session.execute(select(MentionRow.text)).scalar_one()
    assert "\x00" not in stored and "\ud800" not in stored
    assert "<!channel>" in stored and len(stored) > 100_000


def test_a_failed_batch_stores_nothing_and_keeps_the_cursor(db: Database) -> None:
    source = ListSource(name="s", brand="Kestrel Mobile", options={})
    store_batch(db, source, Batch((mention("1"),), "c1"), now=datetime.now(UTC))
    broken = mention("3")
    object.__setattr__(broken, "created_at", datetime(2026, 1, 1))  # naive: the database layer refuses it
    with pytest.raises(Exception, match="naive datetime"):
        store_batch(db, source, Batch((mention("2"), broken), "c2"), now=datetime.now(UTC))
    with db.session() as session:
        assert session.execute(select(func.count()).select_from(MentionRow)).scalar() == 1
        assert session.get(SourceStateRow, "s").cursor == "c1"  # type: ignore[union-attr]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Mention(network="x", external_id="1", author_handle="a", author_name="a", text="t",
                created_at=datetime(2026, 1, 1), url="u")
