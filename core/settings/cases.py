"""Case settings: how customer posts are grouped into one case and when a quiet case resolves itself."""

from __future__ import annotations

from pydantic import Field

from core.settings.base import _Model


class CaseSettings(_Model):
    """One open case per customer conversation (README, "Cases")."""

    #: A customer's new post to the brand joins their open case when it comes within this many hours of their last.
    merge_window_h: float = Field(default=24.0, ge=0)
    #: A case whose last word is the brand's resolves after this many hours without a customer post.
    auto_resolve_h: float = Field(default=72.0, gt=0)
