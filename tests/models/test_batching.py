"""Batches by token count: every post once, no batch over the limit, and the cheapest split by the cost model."""

from __future__ import annotations

import itertools
import random

import pytest

from models.batching import batch_cost, length_groups


def _cheapest_by_brute_force(lengths: list[int], max_size: int) -> float:
    ordered = sorted(lengths)
    best = float("inf")
    for cuts in itertools.product((False, True), repeat=len(ordered) - 1):
        bounds = [0, *(i + 1 for i, cut in enumerate(cuts) if cut), len(ordered)]
        runs = [ordered[a:b] for a, b in itertools.pairwise(bounds)]
        if all(len(run) <= max_size for run in runs):
            best = min(best, sum(batch_cost(len(run), run[-1]) for run in runs))
    return best


def _total(lengths: list[int], groups: list[list[int]]) -> float:
    return sum(batch_cost(len(g), max(lengths[i] for i in g)) for g in groups)


def test_every_post_is_in_exactly_one_batch_within_the_limit() -> None:
    lengths = [random.Random(7).randint(3, 128) for _ in range(300)]
    groups = length_groups(lengths, max_size=64)
    assert sorted(i for g in groups for i in g) == list(range(300))
    assert all(1 <= len(g) <= 64 for g in groups)
    # shortest first, within and across batches
    flat = [lengths[i] for g in groups for i in g]
    assert flat == sorted(flat)


def test_the_split_is_the_cheapest_one() -> None:
    rng = random.Random(3)
    for _ in range(40):
        lengths = [rng.choice((4, 9, 20, 35, 60, 110)) for _ in range(rng.randint(1, 9))]
        size = rng.randint(1, 5)
        assert _total(lengths, length_groups(lengths, max_size=size)) == pytest.approx(
            _cheapest_by_brute_force(lengths, size)
        )


def test_similar_lengths_share_one_pass_and_outliers_get_their_own() -> None:
    assert length_groups([30, 31, 32, 30], max_size=64) == [[0, 3, 1, 2]]
    groups = length_groups([8] * 20 + [120, 125], max_size=64)
    assert [len(g) for g in groups] == [20, 2]
    # a dearer pass means fewer passes
    assert len(length_groups([8] * 20 + [120, 125], max_size=64, call_tokens=1e6)) == 1


def test_no_posts_and_bad_limits() -> None:
    assert length_groups([], max_size=8) == []
    with pytest.raises(ValueError, match="max_size"):
        length_groups([3], max_size=0)
