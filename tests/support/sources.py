"""Test support for the sources: recorded and spec-built HTTP replays, X OpenAPI checks, fake credentials.

Recorded responses come from ../shared/fixtures (tweepy's vcrpy cassettes, praw's recordings). A case no
recording covers (a 429, a 5xx, a page with expansions) is built here as a vcrpy cassette whose X bodies are
validated against the X OpenAPI spec before use; every request a test sends to X is validated against the spec
too. Playback never touches the network (`record_mode="none"`), and a cassette that replays nothing fails.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import vcr
from openapi_schema_validator import OAS30Validator
from pydantic import SecretStr

from core.settings import Secrets
from tests.support.paths import FIXTURES_DIR

FIXTURES = FIXTURES_DIR
TWEEPY = FIXTURES / "tweepy"
PRAW = FIXTURES / "praw"
X_SPEC = FIXTURES / "x-api" / "openapi.json"
X_HOST = "https://api.twitter.com"  # tweepy's host; the spec's server is api.x.com, the paths are the same
BRAND_X_ID = "1500000000000000001"



def x_secrets(*, bearer: bool = True, user: bool = True) -> Secrets:
    """Return placeholder X credentials (the recordings filter Authorization, so any value replays)."""
    values: dict[str, SecretStr] = {}
    if bearer:
        values["x_bearer_token"] = SecretStr("test-bearer")
    if user:
        for key in ("x_consumer_key", "x_consumer_secret", "x_access_token", "x_access_token_secret"):
            values[key] = SecretStr(f"test-{key}")
    return Secrets(**values)


def reddit_secrets(*, account: bool = True) -> Secrets:
    """Return placeholder Reddit credentials matching the recordings' placeholders."""
    values = {"reddit_client_id": SecretStr("<CLIENT_ID>"), "reddit_client_secret": SecretStr("<CLIENT_SECRET>")}
    if account:
        values |= {"reddit_username": SecretStr("<USERNAME>"), "reddit_password": SecretStr("<PASSWORD>")}
    return Secrets(**values)


# -- the X OpenAPI spec ----------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def x_spec() -> dict[str, Any]:
    """Load the X API v2 OpenAPI document."""
    return json.loads(X_SPEC.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _deref(node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        target: Any = x_spec()
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def _validator(schema: Mapping[str, Any]) -> OAS30Validator:
    return OAS30Validator({**schema, "components": x_spec()["components"]})


def _operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    for template, item in x_spec()["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return template, item[method.lower()]
    raise AssertionError(f"{method} {path} is not an operation of the X API spec")


def validate_x_request(method: str, uri: str, body: bytes | str | None) -> None:
    """Fail unless the request's path, query parameters and JSON body are valid for its spec operation."""
    parts = urlsplit(uri)
    template, op = _operation(method, parts.path)
    params = {p["name"]: p for p in (_deref(p) for p in op.get("parameters", []))}
    problems = []
    names = re.findall(r"\{([^}]+)\}", template)
    values = re.match("^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "$", parts.path)
    assert values is not None
    given = dict(zip(names, values.groups(), strict=True))
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for name, value in (given | query).items():
        if name not in params:
            problems.append(f"parameter {name!r} is not declared for {method} {template}")
            continue
        schema = _deref(params[name].get("schema", {}))
        typed: Any = value
        if schema.get("type") == "array":
            typed = value.split(",")
        elif schema.get("type") == "integer":
            typed = int(value)
        problems += [f"{name}={value!r}: {e.message}" for e in _validator(schema).iter_errors(typed)]
    problems += [f"required parameter {n!r} missing" for n, p in params.items()
                 if p.get("required") and n not in given and n not in query]
    if body:
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        document = json.loads(body)
        problems += [f"body: {e.message}" for e in _validator(schema).iter_errors(document)]
    assert not problems, f"{method} {uri} breaks the X API spec: {problems}"


def validate_x_response(method: str, path: str, status: int, body: Any, *, problem: bool = False) -> None:
    """Fail unless `body` has the shape the spec documents for this operation and status."""
    _, op = _operation(method, path)
    response = op["responses"].get(str(status)) or op["responses"]["default"]
    content = response["content"]
    schema = content["application/problem+json" if problem else "application/json"]["schema"]
    errors = [e.message for e in _validator(schema).iter_errors(body)]
    assert not errors, f"built X response for {method} {path} {status} breaks the spec: {errors[:3]}"


# -- building X bodies from the spec's shapes ------------------------------------------------------------
def x_user(user_id: str, username: str, *, followers: int = 120, verified: bool = False) -> dict[str, Any]:
    """Return a User object with the fields brandmon asks for."""
    return {"id": user_id, "username": username, "name": username.replace("_", " ").title(), "verified": verified,
            "verified_type": "none",
            "public_metrics": {"followers_count": followers, "following_count": 80, "post_count": 1500,
                               "listed_count": 2}}


def x_post(post_id: int | str, text: str, author: dict[str, Any], *, lang: str = "en",
           mentions: tuple[tuple[str, str], ...] = (), refs: tuple[tuple[str, str], ...] = (),
           reply_settings: str = "everyone") -> dict[str, Any]:
    """Return a Post object with the fields brandmon asks for (ids as strings, times RFC 3339)."""
    post_id = str(post_id)
    created = datetime.fromtimestamp(((int(post_id) >> 22) + 1288834974657) / 1000, UTC)
    entities: dict[str, Any] = {"mentions": []}
    for username, user_id in mentions:
        start = text.lower().find("@" + username.lower())
        entities["mentions"].append({"start": max(start, 0), "end": max(start, 0) + len(username) + 1,
                                     "username": username, "id": user_id})
    post: dict[str, Any] = {
        "id": post_id, "text": text, "author_id": author["id"],
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "lang": lang, "conversation_id": post_id, "entities": entities, "reply_settings": reply_settings,
        "public_metrics": {"repost_count": 0, "reply_count": 0, "like_count": 1, "quote_count": 0,
                           "bookmark_count": 0, "impression_count": 40},
        "edit_history_post_ids": [post_id],
    }
    if refs:
        post["referenced_posts"] = [{"type": kind, "id": ref_id} for kind, ref_id in refs]
        for kind, ref_id in refs:
            if kind == "replied_to":
                post["conversation_id"] = ref_id
    return post


def x_page(posts: list[dict[str, Any]], users: list[dict[str, Any]], *, next_token: str | None = None,
           included_posts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Return a page of posts with expansions and meta, as search and mentions answer."""
    meta: dict[str, Any] = {"result_count": len(posts)}
    if posts:
        meta |= {"newest_id": posts[0]["id"], "oldest_id": posts[-1]["id"]}
    if next_token:
        meta["next_token"] = next_token
    body: dict[str, Any] = {"meta": meta}
    if posts:
        body["data"] = posts
        body["includes"] = {"users": users}
        if included_posts:
            body["includes"]["posts"] = included_posts
    return body


def snowflake(at: datetime, sequence: int = 0) -> int:
    """Return an X id created at `at`."""
    return ((int(at.timestamp() * 1000) - 1288834974657) << 22) + sequence


# -- cassettes -------------------------------------------------------------------------------------------
@dataclass
class Interaction:
    """One request/response pair to replay."""

    method: str
    uri: str
    status: int
    body: str
    headers: dict[str, list[str]] = field(default_factory=dict)
    request_body: str | None = None


def x_json(method: str, route: str, status: int, body: Any, *, headers: Mapping[str, str] | None = None,
           validate: bool = True, problem: bool = False) -> Interaction:
    """Build an X interaction; the body is checked against the spec unless it is deliberately broken."""
    if validate:
        validate_x_response(method, route.split("?")[0], status, body, problem=problem)
    text = body if isinstance(body, str) else json.dumps(body)
    kind = "application/problem+json" if problem else "application/json; charset=utf-8"
    all_headers = {"content-type": [kind]}
    all_headers |= {k: [v] for k, v in (headers or {}).items()}
    return Interaction(method, X_HOST + route, status, text, all_headers)


def _to_vcr(interactions: list[Interaction]) -> dict[str, Any]:
    return {"version": 1, "interactions": [
        {"request": {"method": i.method, "uri": i.uri, "body": i.request_body, "headers": {}},
         "response": {"status": {"code": i.status, "message": "status"}, "headers": i.headers,
                      "body": {"string": i.body}}}
        for i in interactions]}


@dataclass
class Playback:
    """What a replay saw: the requests the code sent, and the cassette that answered them."""

    sent: list[Any] = field(default_factory=list)
    cassette: Any = None

    def uris(self) -> list[str]:
        """Return the URIs of the requests sent, in order."""
        return [r.uri for r in self.sent]


def _info_ids(r1: Any, r2: Any) -> None:
    if r1.path.endswith("/api/info/"):
        ids1 = dict(parse_qsl(urlsplit(r1.uri).query)).get("id")
        ids2 = dict(parse_qsl(urlsplit(r2.uri).query)).get("id")
        assert ids1 == ids2, f"{ids1} != {ids2}"


@contextmanager
def replay(cassette: Path | list[Interaction], tmp_path: Path | None = None, *, x_requests: bool = False,
           expect_all_played: bool = True) -> Iterator[Playback]:
    """Replay a recorded cassette file or built interactions, matching on method and path, never recording."""
    if isinstance(cassette, list):
        assert tmp_path is not None, "built interactions need tmp_path to be written to"
        path = tmp_path / f"built-{len(list(tmp_path.glob('built-*')))}.json"
        path.write_text(json.dumps(_to_vcr(cassette)), encoding="utf-8")
        expected = len(cassette)
    else:
        path, expected = cassette, 0
    playback = Playback()
    recorder = vcr.VCR(record_mode="none", filter_headers=["Authorization"], match_on=["method", "path", "info_ids"],
                       decode_compressed_response=True)
    recorder.register_matcher("info_ids", _info_ids)
    serializer = "yaml" if path.suffix == ".yaml" else "json"
    with recorder.use_cassette(str(path), serializer=serializer, allow_playback_repeats=False) as played:
        playback.cassette = played
        answer = played.play_response

        def capture(request: Any) -> Any:  # called once per request the code really sends
            playback.sent.append(request)
            return answer(request)

        played.play_response = capture
        yield playback
    assert played.play_count > 0, f"{path.name}: the cassette replayed nothing"
    if expected and expect_all_played:
        assert played.play_count == expected, f"{path.name}: {played.play_count} of {expected} responses played"
    if x_requests:
        for request in playback.sent:
            validate_x_request(request.method, request.uri, request.body)


def tweepy_interactions(name: str) -> list[Interaction]:
    """Load tweepy's recorded interactions (decoded JSON: the same bodies as the cassette) to combine them."""
    recorded = json.loads((TWEEPY / "decoded" / f"{name}.json").read_text(encoding="utf-8"))
    return [Interaction(i["method"], i["uri"], i["status"], json.dumps(i["response"]),
                        {"content-type": ["application/json; charset=utf-8"]}, i.get("request_body"))
            for i in recorded]


def praw_recording(name: str) -> Path:
    """Return the path of one of praw's recordings."""
    return PRAW / name


def praw_interactions(name: str) -> list[dict[str, Any]]:
    """Load a praw recording's interactions (Reddit's real JSON) to build variations on."""
    return json.loads(praw_recording(name).read_text(encoding="utf-8"))["interactions"]  # type: ignore[no-any-return]


def reddit_token() -> Interaction:
    """Return the recorded OAuth token exchange every praw session starts with."""
    recorded = praw_interactions("TestInbox.test_mentions.json")[0]
    return Interaction("POST", recorded["request"]["uri"], 200, recorded["response"]["body"]["string"],
                       {"content-type": ["application/json; charset=UTF-8"]})


def reddit_json(method: str, uri: str, status: int, body: Any, *,
                headers: Mapping[str, str] | None = None) -> Interaction:
    """Build a Reddit interaction with Reddit's rate-limit headers."""
    all_headers = {"content-type": ["application/json; charset=UTF-8"], "x-ratelimit-remaining": ["590.0"],
                   "x-ratelimit-used": ["10"], "x-ratelimit-reset": ["300"]}
    all_headers |= {k: [v] for k, v in (headers or {}).items()}
    return Interaction(method, uri, status, body if isinstance(body, str) else json.dumps(body), all_headers)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to reach a host other than loopback (PostgreSQL and loopback servers stay reachable)."""
    loopback = ("127.0.0.1", "::1", "localhost")
    real_connect, real_resolve = socket.socket.connect, socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in loopback and not host.startswith("/"):
            raise AssertionError(f"a test tried to reach the network: {address}")
        return real_connect(self, address)

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in loopback and host is not None:
            raise AssertionError(f"a test tried to resolve {host!r}")
        return real_resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", resolve)


def praw_interaction(name: str, index: int, *, body: Any = None) -> Interaction:
    """Return one of praw's recorded interactions to replay, optionally with a body built from its own JSON."""
    recorded = praw_interactions(name)[index]
    response = recorded["response"]
    text = response["body"]["string"] if body is None else json.dumps(body)
    headers = {k.lower(): list(v) for k, v in response["headers"].items() if k.lower() != "content-length"}
    return Interaction(recorded["request"]["method"], recorded["request"]["uri"], response["status"]["code"], text,
                       headers, recorded["request"].get("body"))
