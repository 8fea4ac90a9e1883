"""Mastodon statuses are stored under their ActivityPub uri: once however many instances show them.

The answers are Mastodon.py's recorded interactions; the second instance's copy of a status is the recorded
status as a federating instance shows it (its own local ids, the same uri and url), and routes nothing recorded
(a status lookup with another status in it) serve recorded entities with a recorded answer's headers.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from core.storage import Database
from core.storage.schema import MentionRow
from monitor.pipeline.ingest import poll_source
from monitor.queue.replies import mention_from_row
from sources.mastodon import MAX_PARENT_LOOKUPS, MastodonSource
from sources.mastodon_status import StatusKeys, local_ref, status_key
from sources.reply_limits import ReplyRejected
from tests.support.bluesky import mastodon_body, mastodon_secrets, mastodon_served
from tests.support.sources import Interaction, no_network, replay

pytestmark = pytest.mark.usefixtures("no_network")
__all__ = ["no_network"]

HOME = "http://localhost:3000"  # where the recordings were made
OTHER = "http://fosstodon.test"  # a second instance of the brand's, which federates the same statuses
NOW = datetime(2026, 8, 1, 14, 0, tzinfo=UTC)
MENTIONS = ("test_notifications_mentions_only.yaml", 1)
CUSTOMER_STATUS = mastodon_body("test_status_reply.yaml", 0)
BRAND_REPLY = mastodon_body("test_status_reply.yaml", 2)  # in reply to CUSTOMER_STATUS


def source(instance: str, name: str) -> MastodonSource:
    return MastodonSource(name=name, brand="Kestrel Mobile", options={"instance_url": instance, "search": False},
                          secrets=mastodon_secrets(), clock=lambda: NOW)


def notifications(instance: str, statuses: list[dict[str, Any]]) -> Interaction:
    """The recorded mention notification, once per status given (recorded statuses)."""
    recorded = mastodon_body(*MENTIONS)[0]
    notes = [{**copy.deepcopy(recorded), "id": str(int(recorded["id"]) + i), "status": status}
             for i, status in enumerate(statuses)]
    return mastodon_served(*MENTIONS, uri=f"{instance}/api/v1/notifications", body=notes)


def as_federated(status: dict[str, Any]) -> dict[str, Any]:
    """The status as another instance serves it: its own local ids for the status and the author, same uri."""
    copied = copy.deepcopy(status)
    copied["id"] = str(int(status["id"]) + 7_000_000)
    copied["account"]["id"] = str(int(status["account"]["id"]) + 7_000_000)
    copied["account"]["acct"] = f"{status['account']['acct']}@localhost:3000"
    return copied


def test_a_status_seen_through_two_instances_is_stored_once(sqlite_db: Database, tmp_path: Path) -> None:
    home, other = source(HOME, "kestrel-social"), source(OTHER, "kestrel-fosstodon")
    with replay([notifications(HOME, [CUSTOMER_STATUS])], tmp_path):
        assert poll_source(sqlite_db, home, now=NOW).stored == 1
    with replay([notifications(OTHER, [as_federated(CUSTOMER_STATUS)])], tmp_path) as played:
        assert poll_source(sqlite_db, other, now=NOW).stored == 0  # the same status: not a second post
    assert urlsplit(played.sent[0].uri).netloc == "fosstodon.test"
    with sqlite_db.session() as session:
        (row,) = session.execute(select(MentionRow)).scalars().all()
    assert (row.external_id, row.url) == (CUSTOMER_STATUS["uri"], CUSTOMER_STATUS["url"])
    # the local id stays with the instance that stored it, and replies go out there, naming it
    assert (row.source_name, row.raw["instance"], row.raw["status"]["id"]) == (
        "kestrel-social", HOME, CUSTOMER_STATUS["id"])
    with pytest.raises(ReplyRejected, match=re.escape("read through http://localhost:3000, not http://fosstodon.test")):
        other.reply(mention_from_row(row), "@mastodonpy_test_2 same!")
    assert other.find_reply(mention_from_row(row), "@mastodonpy_test_2 same!") is None  # it asks nothing


def test_a_reply_is_linked_to_its_parent_read_before_or_looked_up_once(tmp_path: Path) -> None:
    reader = source(HOME, "kestrel-social")
    with replay([notifications(HOME, [BRAND_REPLY, CUSTOMER_STATUS])], tmp_path) as played:
        (reply, parent) = reader.poll(None).mentions  # the reply comes first, its parent later in the page
    assert len(played.sent) == 1  # the parent was in the same poll: no lookup
    assert reply.parent_id == reply.conversation_id == parent.external_id == CUSTOMER_STATUS["uri"]

    fresh = source(HOME, "kestrel-social")  # a restarted process: it has read nothing yet
    lookup = mastodon_served("test_status.yaml", 1, uri=f"{HOME}/api/v1/statuses/{CUSTOMER_STATUS['id']}",
                             body=CUSTOMER_STATUS)
    with replay([notifications(HOME, [BRAND_REPLY]), lookup], tmp_path) as played:
        (reply,) = fresh.poll(None).mentions
    assert urlsplit(played.sent[1].uri).path == f"/api/v1/statuses/{CUSTOMER_STATUS['id']}"
    assert reply.parent_id == CUSTOMER_STATUS["uri"]
    with replay([notifications(HOME, [BRAND_REPLY])], tmp_path) as played:
        fresh.poll(None)  # the parent's key is remembered: no second lookup
    assert len(played.sent) == 1


def test_a_parent_the_instance_no_longer_has_keeps_a_placeholder_replies_share(tmp_path: Path) -> None:
    reader = source(HOME, "kestrel-social")
    gone = mastodon_served("test_status_delete_media.yaml", 7, uri=f"{HOME}/api/v1/statuses/{CUSTOMER_STATUS['id']}",
                           body=mastodon_body("test_status_delete_media.yaml", 7), status=404)
    with replay([notifications(HOME, [BRAND_REPLY]), gone], tmp_path):
        (reply,) = reader.poll(None).mentions
    assert reply.parent_id == reply.conversation_id == f"localhost:3000#{CUSTOMER_STATUS['id']}"
    assert reply.parent_id == local_ref(HOME, CUSTOMER_STATUS["id"])


def test_parent_lookups_per_poll_are_bounded() -> None:
    keys = StatusKeys(HOME)
    reader = source(HOME, "kestrel-social")
    replies = {}
    for n in range(MAX_PARENT_LOOKUPS + 5):
        status = {**BRAND_REPLY, "id": str(int(BRAND_REPLY["id"]) + n), "uri": f"{BRAND_REPLY['uri']}{n}",
                  "in_reply_to_id": str(int(CUSTOMER_STATUS["id"]) + n)}
        mention = reader.normalise(status)
        replies[mention.external_id] = mention
    asked: list[str] = []

    def lookup(local_id: str) -> dict[str, Any]:
        asked.append(local_id)
        return {**CUSTOMER_STATUS, "id": local_id, "uri": f"{CUSTOMER_STATUS['uri']}/{local_id}"}

    assert keys.link(replies, lookup, max_lookups=MAX_PARENT_LOOKUPS) == MAX_PARENT_LOOKUPS == len(asked)
    linked = [m for m in replies.values() if not keys.is_placeholder(m.parent_id)]
    assert len(linked) == MAX_PARENT_LOOKUPS and all(m.parent_id == m.conversation_id for m in linked)


def test_the_key_is_the_uri_and_stays_within_a_stored_id() -> None:
    assert status_key(CUSTOMER_STATUS, HOME) == CUSTOMER_STATUS["uri"]
    assert status_key(as_federated(CUSTOMER_STATUS), OTHER) == CUSTOMER_STATUS["uri"]
    long_uri = "https://" + "a" * 120 + ".example/users/jo/statuses/1"
    hashed = status_key({**CUSTOMER_STATUS, "uri": long_uri}, HOME)
    assert hashed.startswith("sha256:") and len(hashed) <= 128
    assert status_key({**CUSTOMER_STATUS, "uri": long_uri, "id": "9"}, OTHER) == hashed  # still one key
