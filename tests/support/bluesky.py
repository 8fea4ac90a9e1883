"""Bluesky and Mastodon answers for the contract suite: recorded where a recording exists, lexicon-checked else."""

from __future__ import annotations

import base64
import json
from typing import Any

import yaml
from pydantic import SecretStr

from core.settings import Secrets
from sources.bluesky import BlueskySource
from tests.support.lexicon import check_output, recorded
from tests.support.paths import FIXTURES_DIR
from tests.support.sources import Interaction

BSKY = "https://bsky.social/xrpc/"
BRAND_DID = "did:plc:kestrelmobilebrand00000"
MASTODON_CASSETTES = FIXTURES_DIR / "mastodon"


def bluesky_post() -> dict[str, Any]:
    """A real post view from the SDK's recorded getPostThread answer."""
    return dict(recorded("thread_view_post_with_embed_media.json")["thread"]["post"])


def _jwt(scope: str) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    claims = {"scope": scope, "sub": BRAND_DID, "iat": 1772438400, "exp": 4102444800}
    return f"{part({'alg': 'ES256K', 'typ': 'at+jwt'})}.{part(claims)}.c2ln"


def bluesky_json(nsid: str, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Interaction:
    """One XRPC answer; a 200 JSON body is checked against the call's output schema first."""
    if status == 200 and not isinstance(body, str):
        check_output(nsid, body)
    method = "POST" if json.loads((FIXTURES_DIR / "bluesky" /
                                   "lexicons" / f"{nsid}.json").read_text())["defs"]["main"]["type"] == "procedure" \
        else "GET"
    text = body if isinstance(body, str) else json.dumps(body)
    all_headers = {"content-type": ["application/json; charset=utf-8"]} | {k: [v] for k, v in (headers or {}).items()}
    return Interaction(method, BSKY + nsid, status, text, all_headers)


def bluesky_login() -> list[Interaction]:
    """createSession, then the profile fetch the SDK makes after it."""
    session = {"accessJwt": _jwt("com.atproto.appPass"), "refreshJwt": _jwt("com.atproto.refresh"),
               "handle": "kestrel.example", "did": BRAND_DID}
    return [bluesky_json("com.atproto.server.createSession", session),
            bluesky_json("app.bsky.actor.getProfile", {"did": BRAND_DID, "handle": "kestrel.example"})]


def bluesky_notifications() -> dict[str, Any]:
    """A listNotifications page holding one mention of the real post."""
    post = bluesky_post()
    return {"cursor": "2026-03-02T08:59:00Z", "notifications": [{
        "uri": post["uri"], "cid": post["cid"], "author": {k: post["author"][k] for k in ("did", "handle")},
        "reason": "mention", "record": post["record"], "isRead": False, "indexedAt": post["indexedAt"]}]}


def bluesky_source(name: str) -> BlueskySource:
    """A Bluesky source with an app password and no search."""
    secrets = Secrets(bluesky_handle=SecretStr("kestrel.example"), bluesky_app_password=SecretStr("app-pass"))
    return BlueskySource(name=name, brand="Kestrel", options={}, secrets=secrets)


def mastodon_secrets() -> Secrets:
    """The placeholder token Mastodon.py's cassettes were recorded with."""
    return Secrets(mastodon_access_token=SecretStr("__MASTODON_PY_TEST_ACCESS_TOKEN_2"))


def mastodon_interaction(name: str, index: int) -> Interaction:
    """Interaction `index` of one of Mastodon.py's recorded cassettes, as recorded."""
    data = yaml.safe_load((MASTODON_CASSETTES / name).read_text())["interactions"][index]
    response = data["response"]
    return Interaction(data["request"]["method"], data["request"]["uri"], response["status"]["code"],
                       response["body"]["string"], {k: list(v) for k, v in response["headers"].items()})
