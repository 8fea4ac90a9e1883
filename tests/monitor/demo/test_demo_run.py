"""`brandmon demo` end to end: the week ends now, the team answers through the reply path, the digest has figures.

One run of the real command (default classifier, loopback Slack) is shared by the checks below.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from core.settings import load_settings
from core.storage import Database
from core.storage.schema import AuditRow, MentionRow, OutboxRow, QueueItemRow, ReplyRow, utcnow
from monitor.cli import main
from monitor.demo.team import TEAM
from monitor.demo.wording import TEXTS, customer_name

TEAM_NAMES = {person.username for person in TEAM}


@dataclass
class Run:
    output: str
    before: datetime
    after: datetime
    workdir: Path
    db: Database


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    workdir = tmp_path_factory.mktemp("demo") / "brandmon-demo"
    before = utcnow()
    result = CliRunner().invoke(main, ["demo", "--workdir", str(workdir), "--quiet-alerts"])
    after = utcnow()
    assert result.exit_code == 0, result.output
    db = Database(f"sqlite:///{workdir / 'demo.db'}")
    yield Run(result.output, before, after, workdir, db)
    db.dispose()


def _customer_posts(db: Database) -> list[MentionRow]:
    with db.session() as session:
        rows = session.execute(select(MentionRow)).scalars().all()
    return [m for m in rows if not (m.raw or {}).get("from_brand")]


def test_the_week_ends_now(run: Run) -> None:
    posts = _customer_posts(run.db)
    last = max(m.created_at for m in posts)
    assert run.before - timedelta(minutes=1) <= last <= run.after
    first = min(m.created_at for m in posts)
    assert timedelta(days=6) < last - first < timedelta(days=7)


def test_a_few_items_breached_most_did_not(run: Run) -> None:
    now = utcnow()
    with run.db.session() as session:
        items = session.execute(select(QueueItemRow)).scalars().all()
    assert len(items) > 100

    def breached(item: QueueItemRow) -> bool:
        answered = item.first_response_at
        return answered > item.first_response_due if answered is not None else item.first_response_due <= now

    late = [item for item in items if breached(item)]
    assert 0 < len(late) < len(items) / 3
    open_items = [item for item in items if item.status in ("new", "claimed", "snoozed")]
    due = [item for item in open_items if item.first_response_due > now]
    assert open_items and len(due) > len(open_items) / 2, "the queue left at the end is mostly due, not late"
    answered = [item for item in items if item.first_response_at is not None]
    minutes = sorted((item.first_response_at - item.created_at).total_seconds() / 60 for item in answered)
    assert minutes[0] >= 0 and minutes[len(minutes) // 2] < 240, "a plausible median first response"


def test_replies_went_out_through_the_reply_path(run: Run) -> None:
    with run.db.session() as session:
        replies = session.execute(select(ReplyRow)).scalars().all()
        outbox = {row.id: row for row in session.execute(select(OutboxRow).where(OutboxRow.kind == "reply")).scalars()}
        audit = session.execute(select(AuditRow).where(AuditRow.action.in_(("reply_queued", "reply_posted")))
                                ).scalars().all()
        mentions = {m.id: m for m in session.execute(select(MentionRow)).scalars()}
    posted = [reply for reply in replies if reply.status == "posted"]
    assert len(posted) >= 50 and len(posted) == len(replies)
    assert {reply.author for reply in posted} == TEAM_NAMES
    for reply in posted:
        assert outbox[reply.outbox_id].status == "sent"
        assert reply.external_id and reply.url and reply.posted_at is not None
        assert reply.created_at <= reply.posted_at <= reply.created_at + timedelta(seconds=10)
        customer = mentions[reply.mention_id]
        assert reply.posted_at > customer.created_at
        greeting = customer_name(customer.author_name, customer.author_handle, customer.network)
        assert greeting.lower() in reply.text.lower(), (greeting, reply.text)  # personal: the customer's name
    queued = {a.detail["reply_id"] for a in audit if a.action == "reply_queued" and a.actor in TEAM_NAMES}
    done = {a.detail["reply_id"] for a in audit if a.action == "reply_posted" and a.actor in TEAM_NAMES}
    assert queued == done == {reply.id for reply in posted}

    # the brand's replies came back from the network as its own posts, in the customers' threads
    own = {m.external_id: m for m in mentions.values() if (m.raw or {}).get("from_brand")}
    for reply in posted:
        assert reply.external_id in own
        assert own[reply.external_id].parent_id == mentions[reply.mention_id].external_id
    by_network = {m.network for m in (mentions[r.mention_id] for r in posted)}
    assert by_network == {"x", "reddit", "bluesky", "mastodon"}
    for reply in posted:
        network = mentions[reply.mention_id].network
        pattern = {"x": r"https://x\.com/KestrelMobile/status/\d{19}",
                   "reddit": r"https://www\.reddit\.com/r/\w+/comments/\w+/\w+/[0-9a-z]+/",
                   "bluesky": r"https://bsky\.app/profile/kestrelmobile\.bsky\.social/post/[2-7a-z]{13}",
                   "mastodon": r"https://mastodon\.social/@KestrelMobile/\d{18}"}[network]
        assert re.fullmatch(pattern, reply.url), reply.url


def test_thank_yous_languages_and_resolutions(run: Run) -> None:
    settings = load_settings(run.workdir / "brandmon-demo.yaml")
    thanks = next(s.text for s in settings.queue.saved_replies if s.kind == "thank")
    with run.db.session() as session:
        replies = session.execute(select(ReplyRow, MentionRow).join(MentionRow, MentionRow.id == ReplyRow.mention_id)
                                  ).all()
        resolved = session.execute(select(AuditRow).where(AuditRow.action == "resolved")).scalars().all()
        dismissed = session.execute(select(AuditRow).where(AuditRow.action == "marked_not_relevant")).scalars().all()
    prefix = thanks.split("{first_name}")[0]
    assert any(reply.text.startswith(prefix) for reply, _ in replies), "the configured thank-you went out"
    for language in ("es", "fr", "de", "pt"):
        mine = {text.split("{first}")[0] for (lang, _), texts in TEXTS.items() if lang == language for text in texts}
        assert any(post.language == language and any(reply.text.startswith(p) for p in mine)
                   for reply, post in replies), f"no reply in {language} to a post in {language}"
    assert len([a for a in resolved if a.actor in TEAM_NAMES]) >= 30
    assert dismissed and all(a.actor in TEAM_NAMES for a in dismissed)


def test_the_digest_has_response_times_resolutions_and_thank_yous(run: Run) -> None:
    paths = [Path(p) for p in re.findall(r"weekly digest (\S+\.html)", run.output)]
    assert paths and all(path.is_file() and path.with_suffix(".json").is_file() for path in paths)
    digests = [json.loads(path.with_suffix(".json").read_text(encoding="utf-8")) for path in paths]
    main_week = max(digests, key=lambda d: d["volume"]["total"])
    response = main_week["response"]
    assert response["p50_min"] is not None and response["p50_min"] > 0
    assert response["answered"] > 0 and response["resolved"] > 0 and response["resolution_rate"]
    assert main_week["praised"], "the thank-you list is empty"


def test_it_ends_with_the_serve_command_on_the_demo_database(run: Run) -> None:
    last_lines = run.output.strip().splitlines()[-3:]
    serve = last_lines[-1].strip()
    assert serve.startswith("brandmon serve -c ")
    config = Path(shlex.split(serve)[-1])
    settings = load_settings(config)
    assert settings.database_url == f"sqlite:///{run.workdir / 'demo.db'}"
    assert settings.slack.base_url == "loopback"
    assert any("brandmon users add -c" in line for line in last_lines)
