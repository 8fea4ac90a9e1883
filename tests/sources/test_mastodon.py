"""Mastodon source against Mastodon.py's own recorded interactions (vcrpy, record_mode="none")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import vcr
import yaml
from pydantic import SecretStr

from core.domain import ReplyPath
from core.settings import Secrets
from sources import REGISTRY, source_class
from sources.base import FatalSourceError
from sources.mastodon import MastodonSource, html_to_text, reply_visibility
from sources.reply_limits import ReplyRejected
from tests.support.bluesky import mastodon_interaction
from tests.support.paths import FIXTURES_DIR
from tests.support.sources import no_network, replay

pytestmark = pytest.mark.usefixtures("no_network")
__all__ = ["no_network"]

CASSETTES = FIXTURES_DIR / "mastodon"
INSTANCE = "http://localhost:3000"


def _recorded_json(name: str, index: int) -> Any:
    """The JSON body of interaction `index` in a recorded cassette."""
    data = yaml.safe_load((CASSETTES / name).read_text())
    return json.loads(data["interactions"][index]["response"]["body"]["string"])


def _form_fields(r1: Any, r2: Any) -> None:
    """Match POSTs on the form fields that make a reply (status text and in_reply_to_id)."""
    if r1.method != "POST":
        return
    a, b = (parse_qs((r.body or b"").decode() if isinstance(r.body, bytes) else (r.body or "")) for r in (r1, r2))
    for key in ("status", "in_reply_to_id"):
        assert a.get(key) == b.get(key), key


SENT: list[Any] = []


def _capture(response: Any, *args: Any, **kwargs: Any) -> None:
    """Keep each request the code really sends (a requests response hook on Mastodon.py's session)."""
    SENT.append(response.request)


@pytest.fixture
def replayer() -> Iterator[vcr.VCR]:
    """A vcr that replays only, never records, and matches POSTs on their form fields."""
    SENT.clear()
    my = vcr.VCR(record_mode="none")
    my.register_matcher("form_fields", _form_fields)
    my.match_on = ("method", "scheme", "host", "port", "path", "query", "form_fields")
    yield my


def _source(**options: Any) -> MastodonSource:
    secrets = Secrets(mastodon_access_token=SecretStr("__MASTODON_PY_TEST_ACCESS_TOKEN_2"))
    source = MastodonSource(name="kestrel-mastodon", brand="kestrel", options={"instance_url": INSTANCE, **options},
                          secrets=secrets, clock=lambda: datetime(2026, 8, 1, tzinfo=UTC))
    source.api.session.hooks["response"].append(_capture)
    return source


def test_registered_and_names_its_secret() -> None:
    assert REGISTRY["mastodon"] == "sources.mastodon:MastodonSource"
    assert source_class("mastodon") is MastodonSource
    assert MastodonSource.required_secrets() == ("BRANDMON_MASTODON_ACCESS_TOKEN",)
    with pytest.raises(FatalSourceError, match="BRANDMON_MASTODON_ACCESS_TOKEN"):
        MastodonSource(name="m", brand="b", options={"instance_url": INSTANCE}, secrets=Secrets())
    with pytest.raises(FatalSourceError, match="instance_url"):
        MastodonSource(name="m", brand="b", options={}, secrets=Secrets())


def test_poll_reads_mention_notifications_and_keeps_min_id(replayer: vcr.VCR) -> None:
    source = _source()
    with replayer.use_cassette(str(CASSETTES / "test_notifications_mentions_only.yaml")) as cassette:
        batch = source.poll(None)
    assert cassette.play_count == 1
    assert {r.url for r in SENT} == {f"{INSTANCE}/api/v1/notifications?types%5B%5D=mention"}
    recorded = _recorded_json("test_notifications_mentions_only.yaml", 1)
    assert len(batch.mentions) == len([n for n in recorded if n["type"] == "mention"]) >= 1
    first = batch.mentions[0]
    note = recorded[0]
    assert first.network == "mastodon"
    assert first.external_id == note["status"]["uri"] and first.raw["status"]["id"] == note["status"]["id"]
    assert first.raw["author_id"] == note["status"]["account"]["id"]
    assert first.author_handle == note["status"]["account"]["acct"]
    assert first.url == note["status"]["url"]
    assert first.text == html_to_text(note["status"]["content"])
    assert first.reply_path is ReplyPath.API
    assert all(m.addressed for m in batch.mentions)  # a mention notification speaks to the brand's account
    assert json.loads(batch.cursor or "{}")["min_id"] == max((n["id"] for n in recorded), key=int)


def test_a_status_found_by_search_is_addressed_when_it_mentions_the_brands_account() -> None:
    status = _recorded_json("test_notifications_mentions_only.yaml", 1)[0]["status"]
    (mentioned,) = status["mentions"]
    source = _source()
    source._me = str(mentioned["id"])  # what me() reads from verify_credentials
    assert source.normalise(status).addressed
    source._me = "1"  # another account's view of the same status
    assert not source.normalise(status).addressed
    assert not source.normalise({**status, "mentions": []}).addressed
    assert source.normalise({**status, "mentions": [], "in_reply_to_account_id": "1"}).addressed  # answers it


def test_instance_limit_then_reply_in_thread(replayer: vcr.VCR) -> None:
    source = _source()
    with replayer.use_cassette(str(CASSETTES / "test_instance.yaml")) as cassette:
        assert source.max_chars() == _recorded_json("test_instance.yaml", 0)["configuration"]["statuses"][
            "max_characters"]
    assert cassette.play_count == 1
    with pytest.raises(ReplyRejected):
        source.check_reply("x" * (source.max_chars() + 1))
    answered = source.normalise(_recorded_json("test_status_reply.yaml", 0))
    with replayer.use_cassette(str(CASSETTES / "test_status_reply.yaml")) as cassette:
        posted = source.reply(answered, "@mastodonpy_test_2 same!", idempotency_key="outbox-17")
    assert cassette.play_count == 1
    sent = SENT[-1]
    assert sent.method == "POST" and sent.url == f"{INSTANCE}/api/v1/statuses"
    fields = parse_qs(sent.body if isinstance(sent.body, str) else sent.body.decode())
    assert fields["in_reply_to_id"] == [answered.raw["status"]["id"]]  # the local id on the posting instance
    assert fields["visibility"] == ["public"]
    assert sent.headers.get("Idempotency-Key") == "outbox-17"
    recorded_reply = _recorded_json("test_status_reply.yaml", 2)
    assert posted.external_id == recorded_reply["uri"]  # the key its own status is stored under when read back
    assert recorded_reply["in_reply_to_id"] == answered.raw["status"]["id"]


def test_find_reply_reads_the_thread_context(tmp_path: Path) -> None:
    source = _source()
    answered = source.normalise(_recorded_json("test_status_context.yaml", 0))
    answers = [mastodon_interaction("test_grouped_notification_pagination.yaml", 0),  # verify_credentials
               mastodon_interaction("test_status_context.yaml", 1)]
    with replay(answers, tmp_path) as played:
        found = source.find_reply(answered, "a reply nobody posted")
    assert [urlsplit(r.uri).path for r in played.sent] == [
        "/api/v1/accounts/verify_credentials", f"/api/v1/statuses/{answered.raw['status']['id']}/context"]
    assert found is None


@pytest.mark.parametrize(("answered", "wanted", "expected"), [
    ("public", None, "public"), ("private", None, "private"), ("direct", "public", "direct"),
    ("unlisted", "public", "unlisted"), ("public", "unlisted", "unlisted"), (None, None, "direct")])
def test_visibility_is_never_widened(answered: str | None, wanted: str | None, expected: str) -> None:
    assert reply_visibility(answered, wanted) == expected


@pytest.mark.parametrize(("kind", "variable"), [("mastodon", "BRANDMON_MASTODON_ACCESS_TOKEN"),
                                                ("bluesky", "BRANDMON_BLUESKY_APP_PASSWORD")])
def test_check_names_the_missing_variable(kind: str, variable: str) -> None:
    from monitor.cli.check_cmds import _source_problems

    config = type("C", (), {"type": kind, "enabled": True, "name": f"k-{kind}", "brand": "kestrel",
                            "options": {"instance_url": INSTANCE}})()
    settings = type("S", (), {"sources": [config]})()
    problems = _source_problems(settings, Secrets())  # type: ignore[arg-type]
    assert problems and variable in problems[0]
