"""Example configuration files a user copies and edits; the typed settings live in `core.settings`."""

from __future__ import annotations

from pathlib import Path

EXAMPLE_CONFIG = Path(__file__).with_name("brandmon.example.yaml")
