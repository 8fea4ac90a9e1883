"""The replay source never loses a record silently: every record is stored or rejected with file:line and reason."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.domain import Mention
from core.storage import Database
from core.storage.quarantine_tables import SourceRejectRow
from core.storage.schema import MentionRow
from monitor.pipeline.ingest import poll_source
from sources.base import FatalSourceError, MalformedResponse
from sources.replay import ReplaySource

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def record(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"r{i}", "text": f"kestrel post {i}", "author_handle": "jo",
            "created_at": "2026-03-01T10:00:00Z", **extra}


def source(path: Path, **options: Any) -> ReplaySource:
    return ReplaySource(name="rp", brand="Kestrel", options={"path": str(path), **options})


def drain(src: ReplaySource) -> tuple[list[Mention], list[str]]:
    mentions: list[Mention] = []
    reasons: list[str] = []
    cursor = None
    for _ in range(10_000):
        batch = src.poll(cursor)
        mentions += batch.mentions
        reasons += [f"{r.location}: {r.reason}" for r in batch.rejected]
        cursor = batch.cursor
        if batch.exhausted:
            return mentions, reasons
    raise AssertionError("the replay never finished")


def write_jsonl(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_non_utf8_line_is_counted_and_reported_with_its_line(tmp_path: Path) -> None:
    lines = [json.dumps(record(i)).encode() for i in range(201)]
    lines[50] = json.dumps(record(50, text="caf\u00e9"), ensure_ascii=False).encode("latin-1")
    path = write_jsonl(tmp_path / "posts.jsonl", lines)
    mentions, reasons = drain(source(path, skip_malformed=True, batch_size=40))
    assert len(mentions) == 200
    column = lines[50].index(bytes([0xE9])) + 1
    assert reasons == [f"{path}:51: not utf-8 (byte 0xe9 at column {column})"]


def test_non_utf8_line_without_skip_malformed_stops_with_the_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "posts.jsonl", [json.dumps(record(1)).encode(), b'{"id": "x", "text": "\xff"}'])
    with pytest.raises(MalformedResponse, match=r"posts.jsonl:2: not utf-8"):
        drain(source(path))


@pytest.mark.parametrize(("data", "match"), [
    ("\n".join(json.dumps(record(i)) for i in range(3)).encode("utf-16"), "is UTF-16; convert it to UTF-8"),
    ("\n".join(json.dumps(record(i)) for i in range(3)).encode("utf-16-le"), "NUL bytes"),
    (b"\x89PNG\r\n\x1a\n" + bytes(200) + bytes(range(256)), "NUL bytes"),
])
def test_utf16_and_binary_files_are_refused_clearly(tmp_path: Path, data: bytes, match: str) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_bytes(data)
    with pytest.raises(FatalSourceError, match=match):
        source(path).poll(None)


def test_a_stray_nul_is_one_rejected_line_not_a_refused_file(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "posts.jsonl", [json.dumps(record(i)).encode() for i in range(20)] + [b"\x00"])
    mentions, reasons = drain(source(path, skip_malformed=True))
    assert len(mentions) == 20 and len(reasons) == 1 and reasons[0].startswith(f"{path}:21: not valid JSON")


def test_latin1_csv_is_reported_or_read_with_its_encoding(tmp_path: Path) -> None:
    path = tmp_path / "posts.csv"
    path.write_bytes("id,text,author_handle,created_at\nc1,kestrel caf\u00e9,jo,2026-03-01T10:00:00Z\n"
                     "c2,kestrel ok,jo,2026-03-01T10:00:00Z\n".encode("latin-1"))
    mentions, reasons = drain(source(path, skip_malformed=True))
    assert [m.external_id for m in mentions] == ["c2"] and reasons == [f"{path}:2: not utf-8 (byte 0xe9 at column 15)"]
    mentions, reasons = drain(source(path, encoding="latin-1"))
    assert [m.text for m in mentions] == ["kestrel caf\u00e9", "kestrel ok"] and reasons == []


def test_csv_fields_over_131072_characters_are_read(tmp_path: Path) -> None:
    path = tmp_path / "posts.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "text", "author_handle", "created_at"])
    writer.writerow(["big", "kestrel " + "x" * 200_000, "jo", "2026-03-01T10:00:00Z"])
    writer.writerow(["small", "kestrel", "jo", "2026-03-01T10:00:00Z"])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    mentions, reasons = drain(source(path))
    assert [len(m.text) for m in mentions] == [200_008, 7] and reasons == []


@pytest.mark.parametrize("created", [float("inf"), 1e20, "Infinity", "NaN", -1e20, True, {"a": 1}])
def test_impossible_times_are_reported_not_vanished(tmp_path: Path, created: Any) -> None:
    line = json.dumps(record(2, created_at=created)).encode()  # json writes Infinity/NaN, as hostile files do
    path = write_jsonl(tmp_path / "posts.jsonl", [json.dumps(record(1)).encode(), line])
    mentions, reasons = drain(source(path, skip_malformed=True))
    assert [m.external_id for m in mentions] == ["r1"]
    assert len(reasons) == 1 and reasons[0].startswith(f"{path}:2: created_at")
    with pytest.raises(MalformedResponse, match=r"posts.jsonl:2: created_at"):
        drain(source(path))


def test_year_9999_with_rebase_week_is_reported(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "posts.jsonl", [json.dumps(record(1, created_at="2017-11-01T10:00:00Z")).encode(),
                                                  json.dumps(record(2, created_at="9999-12-31T10:00:00Z")).encode()])
    mentions, reasons = drain(source(path, skip_malformed=True, rebase="week"))
    assert len(mentions) + len(reasons) == 2 and all(":" in r for r in reasons)


@pytest.mark.parametrize(("field", "value"), [
    ("author_handle", {"a": 1}), ("text", 5), ("id", ["x"]), ("author_followers", 2**70 * -1),
    ("author_followers", "many"), ("language", {"x": 1}), ("parent_id", "p" * 129), ("network", "n" * 40),
])
def test_wrong_types_and_sizes_are_rejected_one_record_at_a_time(tmp_path: Path, field: str, value: Any) -> None:
    path = write_jsonl(tmp_path / "posts.jsonl", [json.dumps(record(1)).encode(),
                                                  json.dumps(record(2, **{field: value})).encode(),
                                                  json.dumps(record(3)).encode()])
    mentions, reasons = drain(source(path, skip_malformed=True))
    assert [m.external_id for m in mentions] == ["r1", "r3"] and len(reasons) == 1 and ":2: " in reasons[0]


def test_long_display_values_are_cut_to_the_columns(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "posts.jsonl", [json.dumps(record(
        1, author_handle="h" * 500, author_name="n" * 900, language="l" * 40, author_followers=2**70)).encode()])
    (mention,), reasons = drain(source(path))
    assert (len(mention.author_handle), len(mention.author_name), len(mention.language or "")) == (200, 400, 16)
    assert mention.author_followers == 2**63 - 1 and reasons == []


def test_rejects_are_stored_and_counted_on_both_backends(db: Database, tmp_path: Path) -> None:
    lines = [json.dumps(record(i)).encode() for i in range(5)] + [b"not json", b'{"id": "r9", "text": "\xff"}']
    path = write_jsonl(tmp_path / "posts.jsonl", lines)
    src = source(path, skip_malformed=True)
    outcome = poll_source(db, src, now=NOW)
    assert (outcome.stored, outcome.rejected, outcome.exhausted) == (5, 2, True)
    with db.session() as session:
        assert session.execute(select(func.count()).select_from(MentionRow)).scalar() == 5
        rows = session.execute(select(SourceRejectRow).order_by(SourceRejectRow.id)).scalars().all()
        assert [(r.kind, r.location) for r in rows] == [("rejected", f"{path}:6"), ("rejected", f"{path}:7")]
        assert "not valid JSON" in rows[0].reason and "not utf-8" in rows[1].reason


def test_poison_values_of_issue_17_never_stall_the_source(db: Database, tmp_path: Path) -> None:
    poison = [record(1, author_handle="h" * 250), record(2, author_name="n" * 450), record(3, id="9" * 129),
              record(4, language="l" * 20), record(5, author_followers=2**63), record(6, author_handle={"a": 1}),
              record(7, created_at="9999-12-31T10:00:00Z")]
    path = write_jsonl(tmp_path / "posts.jsonl", [json.dumps(r).encode() for r in poison])
    outcome = poll_source(db, source(path, skip_malformed=True, rebase="week"), now=NOW)
    assert outcome.error is None and outcome.stored + outcome.rejected == len(poison) and outcome.stored >= 4
    again = poll_source(db, source(path, skip_malformed=True, rebase="week"), now=NOW)
    assert (again.error, again.stored, again.rejected) == (None, 0, 0)  # the cursor moved past all of them
