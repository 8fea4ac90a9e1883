"""The reply queue's web page, served by `brandmon serve`."""

from __future__ import annotations

from monitor.web.app import create_app

__all__ = ["create_app"]
