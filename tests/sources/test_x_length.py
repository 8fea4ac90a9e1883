"""The one X length counter (sources/x_posts.py) against X's published weighting rules (twitter-text v3 config).

The rules: a reply holds 280 weighted characters; every URL, however long, counts 23 (t.co); code points in
U+0000-U+10FF, U+2000-U+200D, U+2010-U+201F and U+2032-U+2037 count 1; everything else (CJK, Hangul, emoji...)
counts 2; an emoji counts 2 as a whole, even a sequence joined with zero-width joiners or carrying a skin tone; text is
NFC-normalised first. The queue must agree with the source on every draft.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.queue.replies import check_reply
from monitor.queue.replies import weighted_length as queue_length
from sources.x_posts import X_MAX_WEIGHTED_CHARS, X_URL_WEIGHT, weighted_length

CASES = [
    ("a" * 280, 280),
    ("see kestrel.de for help", 4 + 23 + 9),  # the example: the two counters used to say 23 and 36
    ("see https://support.kestrel.example/outages/2026/11/19?region=north ok", 4 + 23 + 3),
    ("http://a.co", 23),
    ("www.kestrel.example/help.", 23 + 1),  # trailing punctuation is not part of the link
    ("two https://a.example/x and https://b.example/y", 4 + 23 + 5 + 23),
    ("日本語", 6),
    ("こんにちは", 10),
    ("안녕", 4),
    ("中" * 140, 280),
    ("café", 4),
    ("cafe\u0301", 4),  # NFD arrives, NFC is counted
    ("“quoted” – dash", 15),  # general punctuation in the light ranges counts 1
    ("…", 2),  # U+2026 lies outside them
    ("😀", 2),
    ("thanks 🎉", 9),
    ("👍🏽", 2),  # skin tone modifier: one emoji
    ("👨\u200d👩\u200d👧\u200d👦", 2),  # family: one zero-width-joined sequence
    ("❤️", 2),  # with variation selector 16
    ("🇩🇪", 2),  # a flag is two regional indicators, one emoji
    ("1️⃣", 2),  # keycap
    ("𠀀", 2),  # astral CJK (extension B)
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_the_source_counts_as_x_publishes(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_the_queue_uses_the_same_counter(text: str, expected: int) -> None:
    assert queue_length(text, "x") == expected


def test_the_limit_and_the_url_weight_are_x_s() -> None:
    assert (X_MAX_WEIGHTED_CHARS, X_URL_WEIGHT) == (280, 23)
    assert check_reply("中" * 140, "x").ok
    assert not check_reply("中" * 141, "x").ok
    assert check_reply("see kestrel.de for help", "x").warnings  # a link on X is flagged


@given(st.text(max_size=300))
def test_the_queue_and_the_source_never_disagree(text: str) -> None:
    assert queue_length(text, "x") == weighted_length(text)
