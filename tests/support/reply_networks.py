"""Loopback Bluesky and Mastodon servers that keep every reply they accept, for the exactly-once reply tests.

Each is a real HTTP server on 127.0.0.1 that the real SDK reaches through its base URL (atproto's `Client`
base URL, Mastodon.py's `api_base_url`), so a child process can post through it and be SIGKILLed. The answers
are recorded ones: Bluesky's go through `BlueskyServer`, which checks every request and answer against the
lexicons, with the SDK's recorded post view re-authored by the brand (as `tests/support/bluesky.py` builds them);
Mastodon's are Mastodon.py's recorded cassette bodies (the reply its recording posted, verify_credentials, the
instance info, a thread context), where only the id of a second copy of a status changes, so a duplicate shows.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.support.bluesky import (
    BRAND_DID,
    BlueskyServer,
    bluesky_post,
    brand_post,
    login_answers,
    mastodon_body,
    mastodon_served,
    ok,
    xrpc_error,
)
from tests.support.loopback_http import LoopbackHttp

CREATE = "com.atproto.repo.createRecord"
THREAD = "app.bsky.feed.getPostThread"
#: Mastodon.py's recorded reply: the customer's status, the brand ("admin") account, and its reply to the status.
MASTODON_REPLY = ("test_status_reply.yaml", 2)
MASTODON_ME = ("test_status_reply.yaml", 1)
MASTODON_INSTANCE = ("test_instance.yaml", 0)
MASTODON_CONTEXT = ("test_status_context.yaml", 1)
CUSTOMER_STATUS = mastodon_body("test_status_reply.yaml", 0)
#: The text the recorded reply was posted with (the cassette's request), which its recorded answer shows.
RECORDED_REPLY_TEXT = "@mastodonpy_test_2 same!"
_CONTEXT_PATH = re.compile(r"^/api/v1/statuses/([^/]+)/context$")


class BlueskyNetwork:
    """A PDS holding the recorded post and every reply record the brand creates, lexicon-checked both ways."""

    def __init__(self) -> None:
        self.post = bluesky_post()
        self.replies: list[dict[str, Any]] = []  # post views of the reply records, as getPostThread shows them
        self._lock = threading.Lock()
        self.api = BlueskyServer(login_answers(**{CREATE: self._create, THREAD: self._thread}))
        self.http = LoopbackHttp(self.api)

    def _create(self, request: httpx.Request) -> httpx.Response:
        record = json.loads(request.content)["record"]
        with self._lock:
            rkey = f"3kestrelreply{len(self.replies) + 1}"
            view = brand_post(rkey, record["text"], indexed_at=record["createdAt"])
            view["record"] = record  # the PDS keeps the record as the client wrote it
            self.replies.append(view)
        return ok(CREATE, {"uri": view["uri"], "cid": self.post["cid"]})(request)

    def _thread(self, request: httpx.Request) -> httpx.Response:
        uri = request.url.params["uri"]
        if uri != self.post["uri"]:
            return xrpc_error(THREAD, 400, "NotFound", f"Post not found: {uri}")(request)
        with self._lock:
            replies = [{"$type": "app.bsky.feed.defs#threadViewPost", "post": view} for view in self.replies
                       if view["record"]["reply"]["parent"]["uri"] == uri]
        thread = {"thread": {"$type": "app.bsky.feed.defs#threadViewPost", "post": self.post, "replies": replies}}
        return ok(THREAD, thread)(request)

    def created(self) -> list[str]:
        """The createRecord calls the network answered, as the NSIDs called."""
        return [name for name in self.api.names() if name == CREATE]

    def brand_replies(self) -> list[dict[str, Any]]:
        """The reply posts the brand's account holds on the network."""
        return [view for view in self.replies if view["author"]["did"] == BRAND_DID]

    def __enter__(self) -> BlueskyNetwork:
        self.http.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.__exit__(*exc)


@dataclass
class StatusPost:
    """One POST /api/v1/statuses the instance received: its form fields and its Idempotency-Key."""

    fields: dict[str, list[str]]
    key: str | None
    taken: bool


class MastodonNetwork:
    """An instance holding the recorded customer status and every reply the brand posts to it.

    Every POST makes a status, whatever its Idempotency-Key (which the tests count, rather than trust the
    instance to honour it: Mastodon keeps a key for an hour only). `drop_next_post` drops the connection on the
    next POST: "before" the instance takes it, or "after" (the status exists, its answer is lost).
    """

    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []
        self.posts: list[StatusPost] = []
        self.requests: list[str] = []
        self.drop_next_post: str | None = None
        self._lock = threading.Lock()
        self.http = LoopbackHttp(self._answer)

    @property
    def base_url(self) -> str:
        """The instance URL the source is configured with."""
        return self.http.base_url

    def _served(self, recorded: tuple[str, int], body: Any) -> httpx.Response:
        answer = mastodon_served(*recorded, uri="", body=body)
        headers = [(k, v) for k, values in answer.headers.items() for v in values]
        return httpx.Response(answer.status, headers=headers, content=answer.body.encode())

    def _answer(self, request: httpx.Request) -> httpx.Response | None:
        path = urlsplit(str(request.url)).path
        with self._lock:
            self.requests.append(f"{request.method} {path}")
        if request.method == "GET" and path == "/api/v1/accounts/verify_credentials":
            return self._served(MASTODON_ME, mastodon_body(*MASTODON_ME))
        if request.method == "GET" and path.rstrip("/") == "/api/v2/instance":
            return self._served(MASTODON_INSTANCE, mastodon_body(*MASTODON_INSTANCE))
        if request.method == "POST" and path == "/api/v1/statuses":
            return self._post(request)
        context = _CONTEXT_PATH.match(path)
        if request.method == "GET" and context:
            with self._lock:
                replies = [s for s in self.statuses if s["in_reply_to_id"] == context.group(1)]
            return self._served(MASTODON_CONTEXT, {**mastodon_body(*MASTODON_CONTEXT), "descendants": replies})
        raise AssertionError(f"no recording answers {request.method} {path}")

    def _post(self, request: httpx.Request) -> httpx.Response | None:
        fields = parse_qs(request.content.decode())
        key = request.headers.get("Idempotency-Key")
        # the recorded answer belongs to the recorded request: refuse to serve it for anything else
        expected = {"status": [RECORDED_REPLY_TEXT], "in_reply_to_id": [CUSTOMER_STATUS["id"]]}
        assert {k: fields.get(k) for k in expected} == expected, f"not the recorded reply: {fields}"
        with self._lock:
            drop, self.drop_next_post = self.drop_next_post, None
            self.posts.append(StatusPost(fields, key, taken=drop != "before"))
            if drop == "before":
                return None
            status = self._new_status()
        if drop == "after":
            return None
        return self._served(MASTODON_REPLY, status)

    def _new_status(self) -> dict[str, Any]:
        """The recorded reply; a second one (a duplicate) gets the next id, so it can be told apart."""
        status = copy.deepcopy(mastodon_body(*MASTODON_REPLY))
        if self.statuses:
            recorded_id = status["id"]
            status["id"] = str(int(recorded_id) + len(self.statuses))
            status["uri"] = status["uri"].replace(recorded_id, status["id"])
            status["url"] = status["url"].replace(recorded_id, status["id"])
        self.statuses.append(status)
        return status

    def keys(self) -> list[str | None]:
        """The Idempotency-Key of every POST the instance received, in order."""
        return [post.key for post in self.posts]

    def __enter__(self) -> MastodonNetwork:
        self.http.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.__exit__(*exc)


__all__ = ["CUSTOMER_STATUS", "RECORDED_REPLY_TEXT", "BlueskyNetwork", "LoopbackHttp", "MastodonNetwork",
           "StatusPost"]
