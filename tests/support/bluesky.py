"""Bluesky and Mastodon answers for the tests: recorded where a recording exists, lexicon-checked where not.

`BlueskyServer` answers the real atproto SDK over httpx's mock transport and checks every request it gets (query
parameters, procedure input) and every answer a test builds (output, error name) against the lexicons in
`../shared/fixtures/bluesky`; the post views in the answers are the SDK's own recorded ones.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import yaml
from atproto import Client, Session
from pydantic import SecretStr

from core.settings import Secrets
from sources.bluesky import BlueskySource
from tests.support.lexicon import check_input, check_output, check_params, lexicon, recorded
from tests.support.paths import FIXTURES_DIR
from tests.support.sources import Interaction

BSKY = "https://bsky.social/xrpc/"
BRAND_DID = "did:plc:kestrelmobilebrand00000"
BRAND_HANDLE = "kestrel.example"
MASTODON_CASSETTES = FIXTURES_DIR / "mastodon"
#: 2100-01-01 and 2020-01-01: a token that expires long after the tests, and one that expired before them.
FAR_FUTURE, LONG_AGO = 4102444800, 1577836800
#: XRPC errors any method may answer with (the lexicons list only each method's own ones).
GENERIC_ERRORS = {"InvalidRequest", "ExpiredToken", "InvalidToken", "AuthenticationRequired", "RateLimitExceeded",
                  "InternalServerError", "MethodNotImplemented"}


def bluesky_post() -> dict[str, Any]:
    """A real post view from the SDK's recorded getPostThread answer."""
    return copy.deepcopy(dict(recorded("thread_view_post_with_embed_media.json")["thread"]["post"]))


def brand_post(rkey: str, text: str, *, indexed_at: str, reply_to: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The recorded post view re-authored by the brand account (a post or a reply), as getAuthorFeed shows it."""
    post = bluesky_post()
    post["uri"] = f"at://{BRAND_DID}/app.bsky.feed.post/{rkey}"
    post["author"] = {"did": BRAND_DID, "handle": BRAND_HANDLE, "displayName": "Kestrel Mobile"}
    post["record"] = {"$type": "app.bsky.feed.post", "text": text, "createdAt": indexed_at, "langs": ["en"]}
    post.pop("embed", None)
    post["indexedAt"] = indexed_at
    if reply_to is not None:
        ref = {"uri": reply_to["uri"], "cid": reply_to["cid"]}
        root = ((reply_to.get("record") or {}).get("reply") or {}).get("root") or ref
        post["record"]["reply"] = {"root": root, "parent": ref}
    return post


def jwt(scope: str, *, exp: int = FAR_FUTURE) -> str:
    """An unsigned token of the shape the SDK decodes (the client never verifies the signature)."""
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    claims = {"scope": scope, "sub": BRAND_DID, "iat": 1772438400, "exp": exp}
    return f"{part({'alg': 'ES256K', 'typ': 'at+jwt'})}.{part(claims)}.c2ln"


def session_body(nsid: str = "com.atproto.server.createSession", *, exp: int = FAR_FUTURE,
                 tag: str = "") -> dict[str, Any]:
    """A createSession or refreshSession answer, checked against the call's output schema."""
    body = {"accessJwt": jwt(f"com.atproto.appPass{tag}", exp=exp), "refreshJwt": jwt(f"com.atproto.refresh{tag}"),
            "handle": BRAND_HANDLE, "did": BRAND_DID}
    check_output(nsid, body)
    return body


def session_string(*, access_exp: int) -> str:
    """A session string in the SDK's own encoding, as an earlier run would have kept it."""
    body = session_body(exp=access_exp, tag=".kept")
    return str(Session(BRAND_HANDLE, BRAND_DID, body["accessJwt"], body["refreshJwt"], "https://bsky.test").export())


def notification(post: Mapping[str, Any], *, reason: str = "mention", indexed_at: str | None = None
                 ) -> dict[str, Any]:
    """A notification of `post` (a #notification of listNotifications)."""
    return {"uri": post["uri"], "cid": post["cid"], "author": {k: post["author"][k] for k in ("did", "handle")},
            "reason": reason, "record": post["record"], "isRead": False,
            "indexedAt": indexed_at or post["indexedAt"]}


Answer = Callable[[httpx.Request], httpx.Response]


def ok(nsid: str, body: Any, headers: Mapping[str, str] | None = None) -> Answer:
    """A 200 answer whose body is first checked against the method's output schema."""
    if "output" in lexicon(nsid)["defs"]["main"]:
        check_output(nsid, body)
    return lambda _request: httpx.Response(200, json=body, headers=dict(headers or {}))


def empty(nsid: str) -> Answer:
    """The empty 200 answer of a procedure without output (updateSeen)."""
    assert "output" not in lexicon(nsid)["defs"]["main"], f"{nsid} has an output"
    return lambda _request: httpx.Response(200)


def xrpc_error(nsid: str, status: int, error: str, message: str = "",
               headers: Mapping[str, str] | None = None) -> Answer:
    """An XRPC error answer; the error name must be the method's own (its lexicon) or a generic one."""
    declared = {e["name"] for e in lexicon(nsid)["defs"]["main"].get("errors", [])}
    assert error in declared | GENERIC_ERRORS, f"{nsid} cannot answer {error}"
    body = {"error": error, "message": message or error}
    return lambda _request: httpx.Response(status, json=body, headers=dict(headers or {}))


class BlueskyServer:
    """Answer XRPC calls after checking each request against its lexicon; record what was sent."""

    def __init__(self, answers: Mapping[str, Answer | list[Answer]]) -> None:
        self.answers = {k: list(v) if isinstance(v, list) else v for k, v in answers.items()}
        self.calls: list[tuple[str, Any]] = []
        self.tokens: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        nsid = urlsplit(str(request.url)).path.removeprefix("/xrpc/")
        main = lexicon(nsid)["defs"]["main"]
        if main["type"] == "query":
            params: dict[str, list[str]] = {}
            for key, value in parse_qsl(urlsplit(str(request.url)).query):
                params.setdefault(key, []).append(value)
            props = main.get("parameters", {}).get("properties", {})
            flat = {k: v if props.get(k, {}).get("type") == "array" else v[0] for k, v in params.items()}
            check_params(nsid, flat)
            self.calls.append((nsid, flat))
        else:
            body = json.loads(request.content) if request.content else None
            if "input" in main:
                check_input(nsid, body)
            self.calls.append((nsid, body))
        self.tokens.append((nsid, request.headers.get("authorization", "")))
        answer = self.answers.get(nsid)
        assert answer is not None, f"the test gave no answer for {nsid}"
        if isinstance(answer, list):
            assert answer, f"{nsid} was called more often than the test answers"
            return answer.pop(0)(request)
        return answer(request)

    def names(self) -> list[str]:
        """The methods called, in order."""
        return [name for name, _ in self.calls]

    def sent(self, nsid: str) -> list[Any]:
        """What each call of `nsid` sent (its parameters or its input)."""
        return [sent for name, sent in self.calls if name == nsid]

    def client(self) -> Client:
        """A real atproto client whose requests this server answers."""
        client = Client(base_url="https://bsky.test")
        client.request._client = httpx.Client(transport=httpx.MockTransport(self))
        return client


def bluesky_secrets() -> Secrets:
    """The brand account's handle and a placeholder app password."""
    return Secrets(bluesky_handle=SecretStr(BRAND_HANDLE), bluesky_app_password=SecretStr("app-pass-kestrel"))


def login_answers(**extra: Answer | list[Answer]) -> dict[str, Answer | list[Answer]]:
    """createSession and the profile the SDK fetches after login, plus `extra`."""
    profile = {"did": BRAND_DID, "handle": BRAND_HANDLE}
    return {"com.atproto.server.createSession": ok("com.atproto.server.createSession", session_body()),
            "app.bsky.actor.getProfile": ok("app.bsky.actor.getProfile", profile), **extra}


def served_source(server: BlueskyServer, session_file: Path | bool, *, name: str = "kestrel-bsky",
                  query: str | None = 'kestrel OR "kestrel mobile"', **options: Any) -> BlueskySource:
    """A Bluesky source whose client talks to `server`, keeping its session in `session_file`."""
    kept = str(session_file) if isinstance(session_file, Path) else session_file
    return BlueskySource(name=name, brand="kestrel", options={"session_file": kept, **options}, query=query,
                         secrets=bluesky_secrets(), client=server.client())


# -- the contract suite's cassettes (vcrpy over httpx) --------------------------------------------------
def bluesky_json(nsid: str, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Interaction:
    """One XRPC answer; a 200 JSON body is checked against the call's output schema first."""
    if status == 200 and not isinstance(body, str):
        check_output(nsid, body)
    method = "POST" if lexicon(nsid)["defs"]["main"]["type"] == "procedure" else "GET"
    text = body if isinstance(body, str) else json.dumps(body)
    all_headers = {"content-type": ["application/json; charset=utf-8"]} | {k: [v] for k, v in (headers or {}).items()}
    return Interaction(method, BSKY + nsid, status, text, all_headers)


def bluesky_login() -> list[Interaction]:
    """createSession, then the profile fetch the SDK makes after it."""
    return [bluesky_json("com.atproto.server.createSession", session_body()),
            bluesky_json("app.bsky.actor.getProfile", {"did": BRAND_DID, "handle": BRAND_HANDLE})]


def bluesky_notifications() -> dict[str, Any]:
    """A listNotifications page holding one mention of the real post."""
    return {"cursor": "2026-03-02T08:59:00Z", "notifications": [notification(bluesky_post())]}


def bluesky_source(name: str) -> BlueskySource:
    """A Bluesky source with an app password, no search, and no session file (each test logs in afresh)."""
    return BlueskySource(name=name, brand="Kestrel", options={"session_file": False}, secrets=bluesky_secrets())


# -- Mastodon.py's cassettes ---------------------------------------------------------------------------
def mastodon_secrets() -> Secrets:
    """The placeholder token Mastodon.py's cassettes were recorded with."""
    return Secrets(mastodon_access_token=SecretStr("__MASTODON_PY_TEST_ACCESS_TOKEN_2"))


def mastodon_interaction(name: str, index: int) -> Interaction:
    """Interaction `index` of one of Mastodon.py's recorded cassettes, as recorded."""
    data = yaml.safe_load((MASTODON_CASSETTES / name).read_text())["interactions"][index]
    response = data["response"]
    return Interaction(data["request"]["method"], data["request"]["uri"], response["status"]["code"],
                       response["body"]["string"], {k: list(v) for k, v in response["headers"].items()})


def mastodon_body(name: str, index: int) -> Any:
    """The JSON body of interaction `index` of a recorded cassette."""
    data = yaml.safe_load((MASTODON_CASSETTES / name).read_text())["interactions"][index]
    return json.loads(data["response"]["body"]["string"])


def mastodon_served(name: str, index: int, *, uri: str, body: Any, method: str = "GET",
                    status: int | None = None) -> Interaction:
    """A recorded answer's status and headers serving recorded entities on a route no recording covers.

    Used where Mastodon.py recorded the entity (a Status, a search result) but not the route that lists it
    (a hashtag timeline, an account's statuses): the body is built only from recorded entities.
    """
    recorded_answer = mastodon_interaction(name, index)
    headers = {k: v for k, v in recorded_answer.headers.items() if k.lower() not in ("content-length",
                                                                                      "content-encoding")}
    return Interaction(method, uri, status or recorded_answer.status, json.dumps(body), headers)
