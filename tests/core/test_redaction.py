"""No secret in any log line: the redacting filter on every handler, and each source at -vv against its recordings."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from core.redact import REDACTED, RedactingFilter, install_redaction, redact, register_secrets, uninstall_redaction
from core.settings import Secrets
from sources.reddit import RedditSource
from sources.x import XSource
from tests.support.clock import Clock
from tests.support.sources import (
    BRAND_X_ID,
    TWEEPY,
    no_network,
    praw_recording,
    reddit_secrets,
    replay,
    tweepy_interactions,
)

__all__ = ["no_network"]

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
X_KEYS = {
    "x_bearer_token": "AAAAbearerSecretValue0123456789",
    "x_consumer_key": "consumerKeySecret0123",
    "x_consumer_secret": "consumerSecretValue0123",
    "x_access_token": "1500-accessTokenSecret0123",
    "x_access_token_secret": "accessTokenSecretSecret0123",
}
LOGGERS = ("", "tweepy", "requests_oauthlib", "oauthlib", "urllib3", "praw", "prawcore", "httpx", "httpcore")


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Capture everything at DEBUG through a handler that `install_redaction` filters, as `brandmon -vv` does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    root.addHandler(handler)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    install_redaction()
    try:
        yield stream
    finally:
        uninstall_redaction()
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def test_authorization_values_are_redacted_from_any_library() -> None:
    text = redact("Headers: {'Authorization': 'Bearer abc.DEF-123', 'User-Agent': 'x'} "
                  "Authorization: OAuth oauth_consumer_key=\"k1\", oauth_signature=\"s%3D\"\n"
                  "[('oauth_token', 'k1')] GET /x?access_token=tok123&page=2 postgresql://ana:hunter22@db/x")
    for secret in ("abc.DEF-123", "k1", "s%3D", "tok123", "hunter22"):
        assert secret not in text
    assert "User-Agent" in text and "page=2" in text and "postgresql://ana:" in text and REDACTED in text


def test_filter_redacts_registered_secrets_args_and_tracebacks() -> None:
    register_secrets(["s3cr3t-value-xyz"])
    record = logging.LogRecord("lib", logging.DEBUG, __file__, 1, "sending %s", ("s3cr3t-value-xyz",), None)
    try:
        raise RuntimeError("failed with s3cr3t-value-xyz")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    out = logging.Formatter().format(record)
    assert "s3cr3t-value-xyz" not in out and out.count(REDACTED) >= 2


def test_every_secrets_value_is_registered_on_construction() -> None:
    Secrets(slack_bot_token=SecretStr("xoxb-never-in-a-log-42"))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("brandmon.test.redaction")
    logger.addHandler(handler)
    try:
        install_redaction()
        logger.warning("token is %s", "xoxb-never-in-a-log-42")
    finally:
        uninstall_redaction()
        logger.removeHandler(handler)
    assert "xoxb-never-in-a-log-42" not in stream.getvalue() and REDACTED in stream.getvalue()


def _assert_clean(output: str, secrets: list[str]) -> None:
    assert output, "nothing was logged at DEBUG; the test would prove nothing"
    leaked = [s for s in secrets if s in output]
    assert not leaked, f"secrets in the log: {leaked}"
    for line in output.splitlines():
        lowered = line.lower()
        if "authorization" in lowered:
            assert REDACTED in line, line


def test_x_source_at_debug_logs_no_secret(debug_log: io.StringIO, tmp_path: Path) -> None:
    secrets = Secrets(**{k: SecretStr(v) for k, v in X_KEYS.items()})
    search = XSource(name="kx", brand="Kestrel", options={"kinds": ["search"], "user_id": BRAND_X_ID},
                     query="kestrel", secrets=secrets, clock=Clock(NOW))
    with replay(TWEEPY / "test_client_search_recent_tweets.yaml"):
        assert search.poll(None).mentions
    mentions = XSource(name="tw", brand="Twitter", options={"handle": "Twitter", "kinds": ["mentions"]},
                       query="twitter", secrets=secrets, clock=Clock(NOW))
    with replay(tweepy_interactions("test_client_get_user") + tweepy_interactions("test_client_get_users_mentions"),
                tmp_path):
        assert mentions.poll(None).mentions
    # OAuth 1.0a user context for reads (no bearer token): oauthlib and requests-oauthlib log the signing
    user_only = Secrets(**{k: SecretStr(v) for k, v in X_KEYS.items() if k != "x_bearer_token"})
    oauth1 = XSource(name="ko", brand="Kestrel", options={"kinds": ["search"], "user_id": BRAND_X_ID},
                     query="kestrel", secrets=user_only, clock=Clock(NOW))
    with replay(TWEEPY / "test_client_search_recent_tweets.yaml"):
        assert oauth1.poll(None).mentions
    output = debug_log.getvalue()
    _assert_clean(output, list(X_KEYS.values()))
    assert "oauth" in output.lower()  # the OAuth 1.0a signing was logged, and redacted


def test_reddit_source_at_debug_logs_no_secret(debug_log: io.StringIO) -> None:
    source = RedditSource(name="kr", brand="Kestrel", options={"user_agent": "brandmon-test/1.0"}, query="praw",
                          secrets=reddit_secrets(), clock=Clock(NOW))
    with replay(praw_recording("TestSubreddit.test_search.json")):
        source.poll(None)
    _assert_clean(debug_log.getvalue(), ["<CLIENT_SECRET>", "<PASSWORD>", "<CLIENT_ID>"])
