"""`brandmon demo`: the whole loop, offline, over a bundled sample stream and a loopback Slack."""

from __future__ import annotations

from pathlib import Path

SAMPLE_STREAM = Path(__file__).with_name("sample_stream.jsonl")
DEMO_CONFIG = Path(__file__).with_name("demo.yaml")
