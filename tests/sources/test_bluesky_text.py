"""Bluesky's 300-grapheme limit, counted as extended grapheme clusters (the `regex` package's \\X)."""

from __future__ import annotations

import pytest

from monitor.queue.replies import check_reply
from sources.bluesky_text import MAX_GRAPHEMES, MAX_TEXT_BYTES, check_post_text, graphemes
from sources.reply_limits import ReplyRejected

FAMILY = "\U0001f469\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 👩‍👩‍👧‍👦: four people, three ZWJ
FRANCE = "\U0001f1eb\U0001f1f7"  # 🇫🇷: two regional indicators
E_ACUTE = "e\u0301"  # e + combining acute accent


@pytest.mark.parametrize(("text", "count"), [
    (FAMILY, 1),
    ("\U0001f9d1\U0001f3fd\u200d\U0001f680", 1),  # 🧑🏽‍🚀 skin tone inside a ZWJ sequence
    ("\U0001f3f3\ufe0f\u200d\U0001f308", 1),  # 🏳️‍🌈 a ZWJ flag with a variation selector
    (FRANCE + "\U0001f1e9\U0001f1ea", 2),  # 🇫🇷🇩🇪 two flags, not four characters
    (FRANCE + "\U0001f1e9", 2),  # an unpaired regional indicator stands alone
    ("1\ufe0f\u20e3", 1),  # 1️⃣ keycap
    (E_ACUTE, 1),
    ("a\u0308\u0301", 1),  # two combining marks on one letter
    ("\u1100\u1161\u11a8", 1),  # 각 written as three conjoining jamo
    ("\u0915\u094d\u0937\u093f", 1),  # क्षि a Devanagari conjunct with its vowel sign
    ("\r\n", 1),
    ("kestrel", 7),
    ("", 0),
])
def test_graphemes_are_what_a_reader_counts(text: str, count: int) -> None:
    assert graphemes(text) == count


@pytest.mark.parametrize(("unit", "fits"), [(FRANCE, True), (E_ACUTE, True), ("x", True), (FAMILY, False)])
def test_300_graphemes_fit_unless_they_pass_3000_bytes(unit: str, fits: bool) -> None:
    text = unit * MAX_GRAPHEMES
    assert len(text) > MAX_GRAPHEMES or unit == "x"  # more code points than graphemes: len() would refuse it
    if fits:
        assert check_post_text(text) == MAX_GRAPHEMES
    else:  # 300 families are 7,500 bytes: the record's other limit, which the PDS would refuse
        with pytest.raises(ReplyRejected, match=f"{len(text.encode())} bytes in UTF-8 .*at most {MAX_TEXT_BYTES}"):
            check_post_text(text)
    with pytest.raises(ReplyRejected, match="301 characters as bluesky counts them; the limit is 300"):
        check_post_text(unit * (MAX_GRAPHEMES + 1))


def test_the_queue_counts_bluesky_replies_the_same_way_before_queueing() -> None:
    fits, over = check_reply(FRANCE * MAX_GRAPHEMES, "bluesky"), check_reply(E_ACUTE * (MAX_GRAPHEMES + 1), "bluesky")
    assert fits.ok and (fits.length, fits.limit) == (MAX_GRAPHEMES, MAX_GRAPHEMES)
    assert not over.ok and over.errors == ["the reply is 301 characters as bluesky counts them; the limit is 300"]
    with pytest.raises(ReplyRejected, match="empty"):
        check_post_text(" \n")
