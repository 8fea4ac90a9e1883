"""Fuzz the brand query parser: any text parses or fails with QueryError, and matching follows the logic."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.query import QueryError, parse_query

WORDS = ("kestrel", "mobile", "outage", "refund", "signal", "bill", "router", "fibre")
QUERY_ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from(
    list('()"-@#: ANDORNOTlang:en\t\n\u202e\x00'))

# A tree is ("word", w) | ("not", tree) | ("and", [trees]) | ("or", [trees])
trees = st.recursive(
    st.tuples(st.just("word"), st.sampled_from(WORDS)),
    lambda children: st.one_of(
        st.tuples(st.just("not"), children),
        st.tuples(st.sampled_from(["and", "or"]), st.lists(children, min_size=2, max_size=3)),
    ),
    max_leaves=8,
)


def render(tree: Any) -> str:
    """Write a tree as query text, parenthesising every group so precedence never decides."""
    kind, value = tree
    if kind == "word":
        return str(value)
    if kind == "not":
        return f"NOT {render(value)}"
    return "(" + f" {kind.upper()} ".join(render(child) for child in value) + ")"


def holds(tree: Any, words: set[str]) -> bool:
    """Evaluate a tree directly against the set of words a post contains."""
    kind, value = tree
    if kind == "word":
        return value in words
    if kind == "not":
        return not holds(value, words)
    results = [holds(child, words) for child in value]
    return all(results) if kind == "and" else any(results)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(QUERY_ALPHABET, max_size=80))
@example('("kestrel mobile" OR @Kestrel) -falcon lang:en')
@example('((((((((((kestrel')
@example('"unterminated')
@example("NOT NOT NOT")
@example("\ud800")
def test_any_text_parses_or_raises_query_error(text: str) -> None:
    try:
        query = parse_query(text)
    except QueryError as exc:
        assert str(exc)  # says what is wrong
        return
    assert isinstance(query.to_x(), str) and isinstance(query.to_reddit(), str)
    assert query.matches("kestrel mobile is down again", "en") in (True, False)
    assert query.matches(text, None) in (True, False)


@settings(max_examples=300, deadline=None)
@given(trees, st.sets(st.sampled_from(WORDS)), st.sampled_from(WORDS))
def test_the_matcher_follows_the_boolean_logic(tree: Any, words: set[str], anchor: str) -> None:
    # the anchor keeps at least one term to search for, which every query needs
    query = parse_query(f"{anchor} AND {render(tree)}")
    post = " ".join(sorted(words)).upper()  # matching ignores case
    assert query.matches(post, "en") == (anchor in words and holds(tree, words))
