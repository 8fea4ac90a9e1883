"""Reply-queue and web-page settings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from core.settings.base import _Model


class SavedReplySettings(_Model):
    """A reply template from the config file; `{first_name}`, `{name}`, `{handle}`, `{brand}` are filled in."""

    name: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1)
    kind: Literal["respond", "thank"] | None = None
    networks: list[str] | None = None
    #: The same reply in other languages ({es: "Hola {first_name}..."}), chosen by the post's language.
    variants: dict[Annotated[str, Field(pattern=r"^[a-z]{2,3}$")], Annotated[str, Field(min_length=1)]] = Field(
        default_factory=dict)

class QueueSettings(_Model):
    """The reply queue: how long a claim lasts, when to warn before a deadline, the saved replies."""

    lease_min: int = Field(default=30, gt=0)
    breach_warning_min: int = Field(default=15, ge=0)
    saved_replies: list[SavedReplySettings] = Field(default_factory=list)

class WebSettings(_Model):
    """Where `brandmon serve` listens and how long a login lasts."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, gt=0, lt=65536)
    session_max_age_s: int = Field(default=12 * 3600, gt=0)
    #: Send the session cookie over HTTPS only; turn off only for plain-HTTP local use.
    secure_cookies: bool = False
    #: Believe X-Forwarded-Proto and X-Forwarded-For from the reverse proxy in front (never set it without one):
    #: cookies become Secure when the proxy says the browser used HTTPS, and throttling keys on the real address.
    trust_proxy_headers: bool = False
    #: The address responders open (e.g. https://care.example.com); Slack alerts link items to `/items/<id>` there.
    public_url: str | None = None
