"""Complaint themes: clustering that a person would agree with, key-term names, trend, and the embedder."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from monitor.digest.data import PostRecord
from monitor.digest.themes import build_embedder, clean, find_themes, stop_words, theme_count

BILLING = ["double charged on my bill again, want a refund", "my bill shows a charge I never agreed to, refund please",
           "overcharged on the bill for the third month, refund now", "why is my bill double this month? refund me",
           "refund still missing after the double charge on my bill", "bill charge is wrong, waiting on a refund"]
OUTAGE = ["no signal at all in Leeds since this morning", "no signal, phone says SOS only",
          "whole street has no signal, is the network down", "network down again, no signal on calls or data",
          "still no signal here, network outage?", "no signal and no network for 3 hours"]


def post(mention_id: int, text: str, *, sentiment: str = "negative") -> PostRecord:
    return PostRecord(mention_id=mention_id, brand="Kestrel Mobile", network="x", author_handle=f"u{mention_id}",
                      author_name="A", author_followers=10, text=text, url="https://x.com/a/status/1",
                      created_at=datetime(2026, 11, 16, tzinfo=UTC), sentiment=sentiment, positive_prob=0.1,
                      complaint=True, urgency_level="low", urgency_category="billing" if "bill" in text else "outage",
                      matched_query=True, model="m")


def test_complaints_fall_into_the_themes_a_person_would_name() -> None:
    current = [post(i, f"@KestrelMobile {text}") for i, text in enumerate(BILLING + OUTAGE)]
    previous = [post(100, "RT @someone: no signal in Bristol, network down"), post(101, "bought a new phone")]
    stop = stop_words(["Kestrel Mobile", "KestrelMobile"])
    embedder, method = build_embedder("tfidf", stop=stop)
    themes = find_themes(current, previous, embedder=embedder, stop=stop, max_themes=2)
    assert method.startswith("TF-IDF")
    assert sorted(sorted(theme.mention_ids) for theme in themes) == [list(range(0, 6)), list(range(6, 12))]
    by_first = {min(theme.mention_ids): theme for theme in themes}
    billing, outage = by_first[0], by_first[6]
    assert {"bill", "refund"} & set(billing.terms) and "signal" in " ".join(outage.terms)
    assert billing.name == ", ".join(billing.terms)
    assert not {"kestrel", "kestrelmobile", "mobile"} & {w for t in billing.terms + outage.terms for w in t.split()}
    assert outage.previous == 1 and billing.previous == 0
    assert len(billing.examples) == 3 and billing.top_category == "billing" and billing.negative_share == 1.0


def test_no_previous_week_means_no_trend_and_duplicates_are_shown_once() -> None:
    current = [post(1, OUTAGE[0]), post(2, "RT @a: " + OUTAGE[0]), post(3, OUTAGE[1])]
    stop = stop_words(["Kestrel Mobile"])
    themes = find_themes(current, None, embedder=build_embedder("tfidf", stop=stop)[0], stop=stop)
    assert len(themes) == 1 and themes[0].size == 3 and themes[0].previous is None
    assert [p.mention_id for p in themes[0].examples] == [1, 3] or [p.mention_id for p in themes[0].examples] == [2, 3]
    assert find_themes([], None, embedder=build_embedder("tfidf", stop=stop)[0], stop=stop) == []


def test_theme_count_and_cleaning() -> None:
    assert [theme_count(n, max_themes=6) for n in (0, 1, 3, 8, 50, 200)] == [0, 1, 1, 2, 5, 6]
    assert clean("RT @bob: @KestrelMobile no signal https://t.co/x #KestrelDown").split() == ["no", "signal",
                                                                                              "KestrelDown"]


def test_minilm_plumbing_embeds_to_unit_vectors(tmp_path: Path) -> None:
    from models.embed import embed_texts
    from models.testing import make_tiny_encoder

    folder = make_tiny_encoder(tmp_path / "tiny")
    vectors = embed_texts(["no signal", "double charged on my bill", "no signal again"], model=str(folder),
                          batch_size=2)
    assert vectors.shape == (3, 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embed_texts([], model=str(folder)).shape[0] == 0


def test_themes_count_cases_and_customers_not_posts() -> None:
    # one customer's three posts about their Echo are one case; five customers' billing complaints are five
    texts = ["my echo will not connect", "echo still not connecting to wifi", "echo dead again, no wifi"]
    echo = [dataclasses.replace(post(20 + i, text), author_handle="echo_fan") for i, text in enumerate(texts)]
    current = [post(i, text) for i, text in enumerate(BILLING[:5])] + echo
    stop = stop_words(["Kestrel Mobile"])
    embedder = build_embedder("tfidf", stop=stop)[0]
    (theme,) = find_themes(current, None, embedder=embedder, stop=stop, max_themes=1,
                           case_of={20: 900, 21: 900, 22: 900})
    assert (theme.size, theme.customers, theme.posts) == (6, 6, 8)
    (alone,) = find_themes(current, None, embedder=embedder, stop=stop, max_themes=1)
    assert (alone.size, alone.customers, alone.posts) == (8, 6, 8)  # without cases each post counts
