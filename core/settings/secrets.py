"""Credentials, read from the environment only."""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, SecretStr

from core.redact import register_secrets


class Secrets(BaseModel):
    """Credentials, read from the environment only and never logged."""

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    #: App-level token (xapp-...) for Socket Mode: `brandmon alerts listen`.
    slack_app_token: SecretStr | None = None
    #: X: an app-only bearer token for reads; the four OAuth 1.0a user-context keys to read mentions and reply.
    x_bearer_token: SecretStr | None = None
    x_consumer_key: SecretStr | None = None
    x_consumer_secret: SecretStr | None = None
    x_access_token: SecretStr | None = None
    x_access_token_secret: SecretStr | None = None
    #: Reddit "script" app: client id and secret, plus the account's username and password (or a refresh token).
    reddit_client_id: SecretStr | None = None
    reddit_client_secret: SecretStr | None = None
    reddit_username: SecretStr | None = None
    reddit_password: SecretStr | None = None
    reddit_refresh_token: SecretStr | None = None
    #: Bluesky: the brand account's handle and an app password (Settings > Privacy and security > App passwords).
    bluesky_handle: SecretStr | None = None
    bluesky_app_password: SecretStr | None = None
    #: Mastodon: an access token (read, write:statuses) from the instance's Preferences > Development.
    mastodon_access_token: SecretStr | None = None
    web_session_secret: SecretStr | None = None
    #: The LibreTranslate server's API key (`translation.url`), when the server asks for one.
    translation_api_key: SecretStr | None = None

    def model_post_init(self, __context: Any) -> None:
        """Register every value with the log redaction, so no handler ever prints one."""
        register_secrets(v.get_secret_value() for v in self.__dict__.values() if isinstance(v, SecretStr))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Secrets:
        """Read every secret from `BRANDMON_*` environment variables."""
        env = os.environ if environ is None else environ
        values = {
            field: SecretStr(env[f"BRANDMON_{field.upper()}"])
            for field in cls.model_fields
            if env.get(f"BRANDMON_{field.upper()}")
        }
        return cls(**values)
