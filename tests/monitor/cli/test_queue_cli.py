"""`brandmon queue ...` and `brandmon users add` against a real SQLite database."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select

from core.storage import Database
from core.storage.queue_tables import LabelledExampleRow, UserRow
from core.storage.schema import OutboxRow, QueueItemRow, ReplyRow
from monitor.cli import main
from monitor.web.auth import add_user, authenticate
from tests.support.queue import Labels, post, seed
from tests.support.settings import make_settings


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Database, dict[str, tuple[int, int | None]]]:
    """Return a config file, its database with three queued posts, and the seeded ids."""
    url = f"sqlite:///{tmp_path / 'q.db'}"
    config = tmp_path / "brandmon.yaml"
    config.write_text(yaml.safe_dump({
        "database_url": url,
        "brands": [{"name": "Kestrel Mobile", "query": "kestrel"}],
        "sources": [{"name": "x-kestrel", "type": "replay", "brand": "Kestrel Mobile",
                     "options": {"path": str(tmp_path / "none.jsonl")}}],
        "slack": {"enabled": False},
        "queue": {"lease_min": 15, "saved_replies": [
            {"name": "outage", "text": "Hi {first_name}, engineers are on it. – {brand}", "kind": "respond"}]},
    }), encoding="utf-8")
    db = Database(url)
    db.migrate()
    seeded = seed(db, make_settings(), [
        post("1", "kestrel \x1b[31mred\x1b[0m no signal", minutes_ago=30),
        post("2", "@KestrelMobile love the new plan!", handle="fan"),
        post("3", "kestrel billing wrong", handle="bill")],
        {"2": Labels(sentiment="positive", complaint=False, urgency_score=0.0, urgency_category="none", level="low")})
    for name in ("ana", "ben"):  # --as must name a real user
        add_user(db, name, "a long enough password", role="responder")
    return config, db, seeded


def run(config: Path, *args: str, actor: str = "ana", input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "-c", str(config), "--as", actor] if args[0] == "queue" and
                                args[1] != "audit" else [*args, "-c", str(config)], input=input)
    return result.exit_code, result.output


def test_list_claim_show_reply_and_resolve(setup: tuple[Path, Database, dict[str, tuple[int, int | None]]]) -> None:
    config, db, seeded = setup
    item = seeded["1"][1]
    code, out = run(config, "queue", "list")
    assert code == 0 and "3 items open, showing 3" in out
    assert "\x1b" not in out and "\ufffd[31mred" in out  # terminal escapes from a post are neutralised
    code, out = run(config, "queue", "claim", str(item))
    assert code == 0 and "is yours until" in out
    code, out = run(config, "queue", "claim", str(item), actor="ben")
    assert code == 2 and "claimed by ana" in out
    code, out = run(config, "queue", "reply", str(item), "--saved", "outage", "--queue-only")
    assert code == 2 and "open the item and read its thread" in out
    code, out = run(config, "queue", "show", str(item))
    assert code == 0 and "saved reply 'outage'" in out and "reply path: api" in out
    code, out = run(config, "queue", "reply", str(item), "--saved", "outage", "--queue-only")
    assert code == 0 and "queued" in out
    with db.session() as session:
        reply = session.execute(select(ReplyRow)).scalar_one()
        outbox = session.execute(select(OutboxRow).where(OutboxRow.kind == "reply")).scalar_one()
    assert reply.text == "Hi Jo, engineers are on it. – Kestrel Mobile" and outbox.status == "pending"
    code, out = run(config, "queue", "resolve", str(item))
    assert code == 0 and "resolved" in out
    code, out = run(config, "queue", "audit", str(item))
    actions = [line.split()[3] for line in out.splitlines()]
    assert actions == ["queued", "claimed", "reply_queued", "resolved"]


def test_posting_through_a_source_that_cannot_reply_fails_clearly(
        setup: tuple[Path, Database, dict[str, tuple[int, int | None]]]) -> None:
    config, _, seeded = setup
    item = seeded["3"][1]
    run(config, "queue", "claim", str(item))
    run(config, "queue", "show", str(item))
    code, out = run(config, "queue", "reply", str(item), "--text", "Hi, we'll fix the bill")
    assert code == 2 and "could not be posted" in out and "cannot post replies" in out


def test_thank_snooze_reclassify(setup: tuple[Path, Database, dict[str, tuple[int, int | None]]]) -> None:
    config, db, seeded = setup
    fan_item, bill_item = seeded["2"][1], seeded["3"][1]
    run(config, "queue", "show", str(fan_item))
    code, out = run(config, "queue", "thank", str(fan_item), "--queue-only")
    assert code == 0 and "queued" in out
    code, out = run(config, "queue", "snooze", str(bill_item), "--for", "4h")
    assert code == 0 and "snoozed until" in out
    code, out = run(config, "queue", "reclassify", str(bill_item), "--sentiment", "neutral", "--no-complaint",
                    "--urgency-category", "billing")
    assert code == 0 and "labelled example" in out
    with db.session() as session:
        thanks = session.execute(select(ReplyRow)).scalar_one()
        snoozed = session.get(QueueItemRow, bill_item)
        example = session.execute(select(LabelledExampleRow)).scalar_one()
    assert thanks.text == "Thank you, Jo! We're so glad to hear it."
    assert snoozed is not None and snoozed.status == "snoozed"
    assert (example.sentiment, example.complaint, example.urgency_category) == ("neutral", False, "billing")


def test_users_add_hashes_the_password(setup: tuple[Path, Database, dict[str, tuple[int, int | None]]]) -> None:
    config, db, _ = setup
    code, out = run(config, "users", "add", "cleo", "--role", "admin", "--password-stdin",
                    input="correct horse battery\n")
    assert code == 0 and "added as admin" in out
    with db.session() as session:
        row = session.execute(select(UserRow).where(UserRow.username == "cleo")).scalar_one()
    assert row.password_hash.startswith("$argon2id$") and "correct horse" not in row.password_hash
    assert authenticate(db, "cleo", "correct horse battery") is not None
    assert authenticate(db, "cleo", "wrong password!") is None
    code, out = run(config, "users", "add", "dan", "--password-stdin", input="short\n")
    assert code == 2 and "at least 10 characters" in out
