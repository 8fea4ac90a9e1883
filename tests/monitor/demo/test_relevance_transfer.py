"""`python -m monitor.demo.relevance_transfer`: the share of each language's posts a brand's filters mark."""

from __future__ import annotations

from collections.abc import Sequence

from models.base import Post, Scores
from monitor.demo.relevance_transfer import marked_shares
from tests.support.relevance import BRAND, CUSTOMER, NAMESAKE, FilteringLexicon, texts


def test_shares_are_per_language_without_english_or_posts_naming_the_brand() -> None:
    classify = FilteringLexicon().classify
    rows: list[dict[str, object]] = [{"text": t, "lang": "xx"} for t in texts(NAMESAKE, 6, start=800)]
    rows += [{"text": t, "lang": "yy"} for t in texts(CUSTOMER, 4, start=800)]
    rows += [{"text": texts(NAMESAKE, 1, start=900)[0], "lang": "en"},  # English: left out
             {"text": "Orbital's kestrel nest box has 3 chicks", "lang": "yy"}]  # names the brand word: left out
    assert marked_shares(classify, BRAND, "orbital", rows) == {"xx": 1.0, "yy": 0.0}
    seen: list[Post] = []

    def recording(posts: Sequence[Post]) -> list[Scores]:
        seen.extend(posts)
        return classify(posts)

    marked_shares(recording, BRAND, "orbital", rows[:2], prefix="@user ")  # put first, as the handles are written
    assert [p.text for p in seen] == ["@user " + str(row["text"]) for row in rows[:2]]
    assert {p.brand for p in seen} == {BRAND}
