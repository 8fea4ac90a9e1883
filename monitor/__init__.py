"""brandmon core: domain, storage, pipeline, scheduler, settings, CLI and web."""

from __future__ import annotations

__version__ = "0.1.0"
