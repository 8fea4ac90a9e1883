"""`brandmon sources` says how many records a source rejected; `brandmon sources rejects NAME` lists them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import yaml
from click.testing import CliRunner

from core.settings import load_settings
from core.storage import Database
from monitor.cli import main
from monitor.pipeline.ingest import poll_source
from sources.replay import ReplaySource


def test_sources_shows_rejected_records_with_file_line_and_reason(tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    good = [json.dumps({"id": f"r{i}", "text": "kestrel", "created_at": "2026-03-01T10:00:00Z"}) for i in range(3)]
    feed.write_bytes("\n".join(good).encode() + b'\n{"id": "bad", "text": "caf\xe9"}\n{"id": "inf", "text": "k", '
                     b'"created_at": Infinity}\n')
    config = tmp_path / "brandmon.yaml"
    options = {"path": str(feed), "skip_malformed": True}
    config.write_text(yaml.safe_dump({
        "database_url": f"sqlite:///{tmp_path / 'b.db'}",
        "brands": [{"name": "Kestrel Mobile", "query": "kestrel"}],
        "sources": [{"name": "feed", "type": "replay", "brand": "Kestrel Mobile", "options": options}],
    }), encoding="utf-8")
    settings = load_settings(config)
    db = Database(settings.database_url)
    db.migrate()
    outcome = poll_source(db, ReplaySource(name="feed", brand="Kestrel Mobile", options=options),
                          now=datetime.now(UTC))
    db.dispose()
    assert (outcome.stored, outcome.rejected) == (3, 2)
    runner = CliRunner()
    shown = runner.invoke(main, ["sources", "-c", str(config)])
    assert shown.exit_code == 0, shown.output
    assert "feed: 2 records rejected, 0 quarantined" in shown.output
    listed = runner.invoke(main, ["sources", "-c", str(config), "rejects", "feed"])
    assert listed.exit_code == 0, listed.output
    assert f"{feed}:4: not utf-8" in listed.output and f"{feed}:5: created_at inf is not a finite time" in listed.output


def test_a_utf16_config_or_yaml_error_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    utf16 = tmp_path / "utf16.yaml"
    utf16.write_bytes("brands: []\n".encode("utf-16"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("brands:\n - name: [\n", encoding="utf-8")
    for path, said in ((utf16, "is UTF-16; save it as UTF-8"), (broken, "invalid YAML")):
        result = CliRunner().invoke(main, ["sources", "-c", str(path)])
        assert result.exit_code == 2 and "Traceback" not in result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and said in lines[0], result.output
