"""Mastodon keyword search, hashtag timelines, the brand's own statuses, replies refused or narrowed, rate limits.

Every answer is one of Mastodon.py's recorded interactions, or (for routes nothing recorded: a hashtag timeline,
an account's statuses, a search with results) recorded Status entities served with a recorded answer's headers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from core.domain import ReplyPath
from core.settings import Secrets
from sources.base import FatalSourceError, RateLimited
from sources.mastodon import MastodonSource, instance_token
from sources.mastodon_query import translate
from sources.reply_limits import ReplyRejected
from tests.support.bluesky import mastodon_body, mastodon_interaction, mastodon_secrets, mastodon_served
from tests.support.sources import Interaction, no_network, replay

pytestmark = pytest.mark.usefixtures("no_network")
__all__ = ["no_network"]

INSTANCE = "http://localhost:3000"
API = f"{INSTANCE}/api"
#: verify_credentials as recorded for two accounts: the one the mention notification went to, and "admin".
ME_TEST = ("test_grouped_notification_pagination.yaml", 0)
ME_ADMIN = ("test_status_reply.yaml", 1)
MENTIONS = ("test_notifications_mentions_only.yaml", 1)
INSTANCE_INFO = ("test_instance.yaml", 0)
CUSTOMER_STATUS = mastodon_body("test_status_reply.yaml", 0)  # by mastodonpy_test_2
BRAND_REPLY = mastodon_body("test_status_reply.yaml", 2)  # by admin, in reply to CUSTOMER_STATUS
TEST_ACCOUNT_STATUS = mastodon_body("test_status_context.yaml", 0)  # by mastodonpy_test


def _source(query: str | None = None, **options: Any) -> MastodonSource:
    return MastodonSource(name="kestrel-mastodon", brand="kestrel", options={"instance_url": INSTANCE, **options},
                          query=query, secrets=mastodon_secrets(), clock=lambda: datetime(2026, 8, 1, tzinfo=UTC))


def _search(statuses: list[dict[str, Any]]) -> Interaction:
    """The recorded statuses search answer, holding recorded statuses."""
    body = {**mastodon_body("test_search.yaml", 2), "statuses": statuses}
    return mastodon_served("test_search.yaml", 2, uri=f"{API}/v2/search", body=body)


def _query(request: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.uri).query)


def test_query_translation_states_its_limits() -> None:
    plan = translate('kestrel AND (outage OR "no signal") -refund lang:en OR #kestrelmobile OR @KestrelMobile')
    assert plan.searches == ("kestrel outage -refund language:en", 'kestrel "no signal" -refund language:en',
                             "KestrelMobile")
    assert plan.hashtags == ("kestrelmobile",)
    wide = translate("(a OR b OR c) AND (d OR e)", max_searches=4)
    assert wide.searches == ("a", "b", "c")  # spreading would make six searches: (d OR e) is left out (wider)
    assert translate("lang:en -spam OR kestrel").skipped == ("language:en -spam",)
    assert translate(None).searches == ()


def test_search_and_hashtags_read_where_the_instance_allows(tmp_path: Path) -> None:
    source = _source("hello OR #kestrel")
    hashtag = mastodon_served("test_status_reply.yaml", 2, uri=f"{API}/v1/timelines/tag/kestrel", body=[BRAND_REPLY])
    answers = [mastodon_interaction(*ME_TEST), mastodon_interaction(*MENTIONS),
               _search([TEST_ACCOUNT_STATUS, CUSTOMER_STATUS]), mastodon_interaction(*INSTANCE_INFO), hashtag]
    with replay(answers, tmp_path) as played:
        batch = source.poll(None)
    search, tag = played.sent[2], played.sent[4]
    assert _query(search) == {"q": ["hello"], "type": ["statuses"], "limit": ["40"]}  # no resolve: no lookups
    assert urlsplit(tag.uri).path == "/api/v1/timelines/tag/kestrel" and "min_id" not in _query(tag)
    ids = {m.external_id for m in batch.mentions}
    mention = mastodon_body(*MENTIONS)[0]["status"]["uri"]
    assert ids == {mention, CUSTOMER_STATUS["uri"], BRAND_REPLY["uri"]}  # the brand's own status is left out
    state = json.loads(batch.cursor or "{}")
    newest = max(TEST_ACCOUNT_STATUS["id"], CUSTOMER_STATUS["id"], key=int)  # the newest read, kept or not
    assert state["searches"] == {"hello": newest} and state["tags"] == {"kestrel": BRAND_REPLY["id"]}
    again = [mastodon_interaction(*MENTIONS), _search([CUSTOMER_STATUS]), hashtag]
    with replay(again, tmp_path) as played:
        second = source.poll(batch.cursor)
    assert _query(played.sent[2])["min_id"] == [BRAND_REPLY["id"]]
    assert CUSTOMER_STATUS["uri"] not in {m.external_id for m in second.mentions}  # seen by the last search


def test_a_disabled_hashtag_feed_and_a_refused_search_are_skipped(tmp_path: Path) -> None:
    info = mastodon_body(*INSTANCE_INFO)
    info["configuration"]["timelines_access"]["hashtag_feeds"] = {"local": "disabled", "remote": "disabled"}
    refused = mastodon_served("test_status_delete_media.yaml", 6, uri=f"{API}/v2/search",
                              body=mastodon_body("test_status_delete_media.yaml", 6), status=422)
    source = _source("hello OR #kestrel")
    answers = [mastodon_interaction(*ME_TEST), mastodon_interaction(*MENTIONS), refused,
               mastodon_served(*INSTANCE_INFO, uri=f"{API}/v2/instance/", body=info)]
    with replay(answers, tmp_path) as played:
        batch = source.poll(None)
    assert [urlsplit(r.uri).path for r in played.sent][-1] == "/api/v2/instance/"  # no hashtag timeline read
    assert len(batch.mentions) == 1
    with replay([mastodon_interaction(*MENTIONS)], tmp_path) as played:
        source.poll(batch.cursor)  # search stays off for this run
    assert len(played.sent) == 1


def test_brand_statuses_are_kept_marked_and_linked_to_what_they_answer(tmp_path: Path) -> None:
    source = _source("Toot", brand_posts=True)
    own = mastodon_served("test_status_reply.yaml", 2, uri=f"{API}/v1/accounts/{BRAND_REPLY['account']['id']}"
                          "/statuses", body=[BRAND_REPLY])
    answers = [mastodon_interaction(*ME_ADMIN), mastodon_interaction(*MENTIONS), _search([CUSTOMER_STATUS]), own]
    with replay(answers, tmp_path) as played:
        batch = source.poll(None)
    assert _query(played.sent[-1]) == {"exclude_reblogs": ["1"], "limit": ["40"]}
    reply = next(m for m in batch.mentions if m.external_id == BRAND_REPLY["uri"])
    assert reply.raw["from_brand"] is True and reply.reply_path is ReplyPath.BLOCKED
    assert reply.reply_path_reason == "the brand's own post" and reply.parent_id == CUSTOMER_STATUS["uri"]
    # what the case store links on: a post marked from_brand whose parent_id is the customer's stored status
    customer = next(m for m in batch.mentions if m.external_id == CUSTOMER_STATUS["uri"])
    assert not customer.raw.get("from_brand") and customer.reply_path is ReplyPath.API
    assert json.loads(batch.cursor or "{}")["own_min_id"] == BRAND_REPLY["id"]


@pytest.mark.parametrize("visibility", ["private", "direct"])
def test_a_private_or_direct_mention_is_answered_no_wider(tmp_path: Path, visibility: str) -> None:
    cassette = f"test_status_post[None-{visibility}].yaml"
    source = _source(reply_visibility="public")
    mention = source.normalise(mastodon_body(cassette, 0))
    assert mention.raw["status"]["visibility"] == visibility
    answers = [mastodon_interaction(*INSTANCE_INFO), mastodon_interaction(cassette, 0)]
    with replay(answers, tmp_path) as played:
        posted = source.reply(mention, "@mastodonpy_test we are on it", idempotency_key="reply:41")
    sent = played.sent[-1]
    fields = parse_qs(sent.body.decode() if isinstance(sent.body, bytes) else sent.body)
    assert fields["visibility"] == [visibility] and fields["in_reply_to_id"] == [mention.raw["status"]["id"]]
    assert sent.headers["Idempotency-Key"] == "reply:41"
    assert posted.raw["status"]["visibility"] == visibility


@pytest.mark.parametrize(("index", "code"), [(6, 422), (7, 404)])
def test_a_reply_the_instance_refuses_is_rejected_with_its_reason(tmp_path: Path, index: int, code: int) -> None:
    source = _source()
    mention = source.normalise(CUSTOMER_STATUS)
    error = mastodon_body("test_status_delete_media.yaml", index)
    refused = mastodon_served("test_status_delete_media.yaml", index, uri=f"{API}/v1/statuses", body=error,
                              method="POST", status=code)
    with replay([mastodon_interaction(*INSTANCE_INFO), refused], tmp_path), \
            pytest.raises(ReplyRejected, match=f"does not permit this reply \\({code}: ") as caught:
        source.reply(mention, "@mastodonpy_test_2 same!")
    assert error["error"] in str(caught.value)


def test_429_is_rate_limited_until_the_recorded_reset(tmp_path: Path) -> None:
    recorded = mastodon_interaction(*MENTIONS)
    reset = recorded.headers["x-ratelimit-reset"][0]
    limited = Interaction(recorded.method, recorded.uri, 429, '{"error":"Too many requests"}',
                          {**recorded.headers, "x-ratelimit-remaining": ["0"]})
    with replay([limited], tmp_path), pytest.raises(RateLimited) as caught:
        _source().poll(None)
    assert caught.value.retry_at == datetime.fromisoformat(reset.replace("Z", "+00:00"))


def test_one_variable_holds_a_token_per_instance() -> None:
    assert instance_token("abc123", INSTANCE) == "abc123"
    assert instance_token("tok=", INSTANCE) == "tok="  # a padded token is one token, not a pair
    pairs = "mastodon.social=aaa, localhost:3000=bbb"
    assert instance_token(pairs, INSTANCE) == "bbb" and instance_token(pairs, "https://mastodon.social") == "aaa"
    secrets = Secrets(mastodon_access_token=SecretStr("mastodon.social=aaa fosstodon.org=ccc"))
    with pytest.raises(FatalSourceError, match="none for localhost:3000"):
        MastodonSource(name="m", brand="b", options={"instance_url": INSTANCE}, secrets=secrets)


def test_a_bad_search_option_is_a_clear_fatal_error() -> None:
    with pytest.raises(FatalSourceError, match=r"options.search .*unbalanced parenthesis"):
        _source(search="(kestrel")
