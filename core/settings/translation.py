"""Translation settings: an optional LibreTranslate server; off unless `translation.url` is set."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from core.settings.base import _Model

#: An ISO 639-1 (or 639-3) language code, as posts, responders and saved-reply variants carry them.
LANGUAGE_CODE = r"^[a-z]{2,3}$"


class TranslationSettings(_Model):
    """A server with the LibreTranslate HTTP API; its API key comes from BRANDMON_TRANSLATION_API_KEY only."""

    #: Base URL of the server (https://translate.example.com); unset: translation is off.
    url: str | None = None
    #: How long one request may take before it counts as failed.
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    #: After a 429 without a Retry-After header, stop asking the server for this long.
    rate_limit_wait_s: float = Field(default=60.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} must be an http:// or https:// URL of a LibreTranslate server")
        if parts.query or parts.fragment:
            raise ValueError(f"{value!r}: give the server's base URL, without a query or fragment")
        return value.strip().rstrip("/") + "/"

    @property
    def enabled(self) -> bool:
        """Return True when a translation server is configured."""
        return self.url is not None
