"""Hypothesis drives the replay source with random and hostile files: every record is stored or reported, no crash."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.storage import Database
from monitor.pipeline.ingest import poll_source
from sources.base import FatalSourceError
from sources.replay import ReplaySource

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOSTILE_TEXT = st.one_of(
    st.text(),
    st.sampled_from(["", "\x00", "\ud800", "\u202eelibom\u202c", "<!channel>", "x" * 300, "&amp;", "9" * 30]),
)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
FIELDS = ["id", "external_id", "text", "author_handle", "author_name", "author_followers", "author_verified",
          "created_at", "url", "lang", "language", "network", "conversation_id", "parent_id"]
RECORD = st.fixed_dictionaries(
    {"id": st.one_of(st.integers(min_value=1), HOSTILE_TEXT), "text": HOSTILE_TEXT,
     "created_at": st.one_of(st.sampled_from(["2026-03-01T10:00:00Z", "Infinity", "9999-12-31T23:59:59Z"]),
                             st.floats(), st.integers(), HOSTILE_TEXT)},
    optional={name: JSON_VALUE for name in FIELDS if name not in {"id", "text", "created_at"}},
)
LINE = st.one_of(
    RECORD.map(lambda r: json.dumps(r, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    RECORD.map(lambda r: json.dumps(r, ensure_ascii=False).encode("latin-1", "replace")),
    JSON_VALUE.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ").replace(b"\x00", b"0")),
)


def _records_in(data: bytes) -> int:
    """Non-blank lines: each one is a record the source reads."""
    return sum(1 for raw in data.split(b"\n") if raw.decode("utf-8", "replace").strip())


def _drain(src: ReplaySource) -> tuple[int, int]:
    stored = rejected = 0
    cursor = None
    for _ in range(1000):
        batch = src.poll(cursor)
        stored, rejected, cursor = stored + len(batch.mentions), rejected + len(batch.rejected), batch.cursor
        if batch.exhausted:
            return stored, rejected
    raise AssertionError("replay never finished")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINE, max_size=12), st.sampled_from([None, "week", "now"]), st.integers(min_value=1, max_value=5))
def test_every_record_is_stored_or_reported(lines: list[bytes], rebase: str | None, batch_size: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hostile.jsonl"
        data = b"\n".join(lines)
        path.write_bytes(data)
        src = ReplaySource(name="fz", brand="Kestrel", options={
            "path": str(path), "skip_malformed": True, "filter_brand": False, "rebase": rebase,
            "batch_size": batch_size})
        try:
            stored, rejected = _drain(src)
        except FatalSourceError as exc:  # a file refused as a whole (binary, UTF-16) says so clearly
            assert "NUL bytes" in str(exc) or "UTF-" in str(exc)
            return
        finally:
            src.close()
        assert stored + rejected == _records_in(data)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINE, min_size=1, max_size=8))
def test_hostile_files_store_without_failing_a_batch(lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "hostile.jsonl"
        path.write_bytes(b"\n".join(lines))
        db = Database(f"sqlite:///{Path(folder) / 'fz.db'}")
        db.migrate()
        src = ReplaySource(name="fz", brand="Kestrel", options={"path": str(path), "skip_malformed": True,
                                                                "filter_brand": False})
        try:
            outcome: Any = poll_source(db, src, now=NOW)
            assert outcome.error is None or "NUL bytes" in outcome.error or "UTF-" in outcome.error
        finally:
            src.close()
            db.dispose()
