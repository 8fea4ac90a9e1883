"""Hostile text through the whole pipeline: stored, scored, alerted and shown escaped, on both databases."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from fastapi.testclient import TestClient

from alerts.slack_loopback import SlackLoopback, message_as_text
from core.settings import Secrets
from core.storage import Database
from core.textsafe import for_terminal
from monitor.queue.items import list_queue
from monitor.web import create_app
from monitor.web.auth import add_user
from tests.support.clock import Clock
from tests.support.drills import make_pipeline, settings_for, slack_keys, table_counts
from tests.support.web import login

COMPLAINT = " kestrel mobile charged me twice and nobody answers, refund now"
HOSTILE_POSTS = {
    "controls": "\x1b[2J\x1b[31mred alert\x07\x08\x00 NUL inside\r\x7f" + COMPLAINT,
    "huge": ("kestrel mobile outage " * 5000)[:100_000] + COMPLAINT,
    "surrogates": "lone \ud800 high and \udfff low surrogates" + COMPLAINT,
    "bidi": "refund \u202eevig\u202c now \u2066isolate\u2069" + COMPLAINT,
    "slack": "<!channel> <!here> <@U0ADMIN> *bold* `code` <https://evil.example|click me> &amp;" + COMPLAINT,
    "html": '<script>alert(1)</script><img src=x onerror=alert(2)> "quoted" &lt;' + COMPLAINT,
}
#: What must never reach Slack unescaped: a broadcast, a mention, a link Slack would render, raw HTML.
RAW_SLACK = ("<!channel>", "<!here>", "<@U0ADMIN>", "<https://evil.example", "<script>")


def write_stream(path: Path) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for key, text in HOSTILE_POSTS.items():
            record = {"id": f"hostile-{key}", "text": text, "author_handle": f"m\u202eallory_{key}",
                      "author_name": "<b>Mal</b>\x1b[0m \ud83d", "created_at": "2026-11-23T08:00:00Z",
                      "author_followers": 100}
            handle.write(json.dumps(record) + "\n")  # JSON escapes the lone surrogates as \\udXXX
    return path


def printable(text: str) -> bool:
    """Return True when no character could drive a terminal or reorder what it shows."""
    return not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") and ch != "\n" for ch in text)


def test_hostile_posts_go_through_everything_and_are_shown_escaped(db: Database, tmp_path: Path) -> None:
    clock = Clock()
    stream = write_stream(tmp_path / "hostile.jsonl")
    with SlackLoopback() as slack:
        settings = settings_for(str(db.url.render_as_string(hide_password=False)), [stream],
                                slack_url=slack.base_url)
        pipeline = make_pipeline(db, settings, clock)
        outcome = pipeline.poll("bench-0")
        assert outcome.error is None and outcome.stored == len(HOSTILE_POSTS)
        pipeline.downstream()
        while pipeline.deliver():
            pass
        messages = slack.all_messages()
        keys = slack_keys(slack)

    counts = table_counts(db)
    assert counts["mentions"] == counts["classified"] == counts["routed"] == len(HOSTILE_POSTS)
    assert len(messages) >= len(HOSTILE_POSTS) - 1 and max(keys.values()) == 1
    for message in messages:
        raw = json.dumps(message["blocks"], ensure_ascii=False)
        for needle in RAW_SLACK:
            assert needle not in raw, f"{needle!r} reached Slack unescaped"
        assert len(raw) < 40_000, "a 100 kB post was not cut to Slack's limits"
        assert printable(message_as_text(message)), "the terminal view of an alert carries control characters"
    shown = "\n".join(json.dumps(m["blocks"], ensure_ascii=False) for m in messages)
    assert "&lt;!channel&gt;" in shown and "&lt;script&gt;" in shown

    entries = list_queue(db, limit=50)
    assert entries, "the hostile complaints reached no queue"
    for entry in entries:
        assert printable(for_terminal(entry.mention.text) + for_terminal(entry.mention.author_handle))

    app = create_app(settings, db, sources={}, clock=clock,
                     secrets_=Secrets.model_validate({"web_session_secret": "test-only-session-key"}))
    add_user(db, "ana", "correct horse battery", role="responder")
    with TestClient(app, base_url="http://testserver") as client:
        login(client, "ana", "correct horse battery")
        page = client.get("/")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text and "onerror=alert(2)>" not in page.text
    assert "&lt;script&gt;" in page.text
