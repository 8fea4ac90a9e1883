"""Per-network checks of a reply draft: the length the network counts, its limit, and what blocks sending."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from sources.bluesky_text import MAX_GRAPHEMES as BLUESKY_MAX_GRAPHEMES
from sources.bluesky_text import graphemes
from sources.x_posts import X_MAX_WEIGHTED_CHARS, X_URL_WEIGHT, contains_url
from sources.x_posts import weighted_length as x_weighted_length

#: Characters a reply may use per network (X counts weighted characters, Bluesky graphemes: `weighted_length`).
LENGTH_LIMITS = {"x": X_MAX_WEIGHTED_CHARS, "reddit": 10_000, "bluesky": BLUESKY_MAX_GRAPHEMES}
#: X shortens every link to t.co, which counts as 23 characters whatever the URL's length (the X source's rule).
X_URL_LENGTH = X_URL_WEIGHT


@dataclass(frozen=True, slots=True)
class ReplyCheck:
    """A draft checked against its network: weighted length, limit, blocking errors and warnings."""

    network: str
    length: int
    limit: int | None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return True when nothing blocks sending."""
        return not self.errors


def weighted_length(text: str, network: str) -> int:
    """Return the length the network counts; on X and Bluesky that is the source's own counter."""
    if network == "x":
        return x_weighted_length(text)
    if network == "bluesky":
        return graphemes(text)
    return len(unicodedata.normalize("NFC", text))


def check_reply(text: str, network: str) -> ReplyCheck:
    """Check a draft for `network`: empty, too long, and a link on X (it counts 23 and costs more)."""
    limit = LENGTH_LIMITS.get(network)
    length = weighted_length(text, network)
    errors, warnings = [], []
    if not text.strip():
        errors.append("the reply is empty")
    if limit is not None and length > limit:
        errors.append(f"the reply is {length} characters as {network} counts them; the limit is {limit}")
    if network == "x" and contains_url(text):
        warnings.append(f"the reply has a link: X counts each link as {X_URL_LENGTH} characters, and posting a link "
                        "costs more under the X API's pricing")
    return ReplyCheck(network, length, limit, errors, warnings)


__all__ = ["LENGTH_LIMITS", "X_URL_LENGTH", "ReplyCheck", "check_reply", "weighted_length"]
