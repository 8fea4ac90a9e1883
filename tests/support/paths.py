"""The one place the tests find the checkout and ../shared beside it."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
DATA_DIR = SHARED / "data"
FIXTURES_DIR = SHARED / "fixtures"
