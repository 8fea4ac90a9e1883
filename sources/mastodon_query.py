"""Translate a brand query into Mastodon searches and hashtag timelines, through the one query parser.

Mastodon's full-text search (`GET /api/v2/search`, Elasticsearch behind it) requires every plain term and quoted
phrase, excludes `-term`, and filters `language:xx`; it has no OR and no grouping. So a query becomes one search
per OR branch (`a OR b` is two searches), an OR nested inside AND is spread into branches while that stays within
`max_searches`, and dropped beyond it (the search is then wider, and the local matcher applies the whole query to
every status found). A branch that is one `#hashtag` alone reads that hashtag's timeline instead, which works on
every instance, search engine or not. A handle is searched as its bare name. Limits: only the first
`max_searches` top-level OR branches are searched; a branch with nothing to search for but `lang:` and exclusions
is skipped; an instance without full-text search finds only statuses the account can already see.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.query import And, Node, Not, Or, Term, parse_query

DEFAULT_MAX_SEARCHES = 4


@dataclass(frozen=True, slots=True)
class MastodonQuery:
    """What one poll reads for a brand query: search strings and hashtag timelines."""

    searches: tuple[str, ...]
    hashtags: tuple[str, ...]
    #: Branches left out (beyond `max_searches`, or nothing to search for), to say so in the log.
    skipped: tuple[str, ...] = ()


def _conjunctions(node: Node, budget: int) -> list[list[Node]]:
    """The query as OR-ed lists of AND-ed literals; an OR inside AND past `budget` branches is dropped."""
    if isinstance(node, Or):
        return [conj for child in node.children for conj in _conjunctions(child, budget)]
    if isinstance(node, And):
        result: list[list[Node]] = [[]]
        for child in node.children:
            options = _conjunctions(child, budget)
            if len(result) * len(options) > budget:
                options = [[]]  # too many branches to spread: leave this OR out, which only widens the search
            result = [left + right for left in result for right in options]
        return result
    return [[node]]


def _literal(node: Node) -> tuple[str, bool]:
    """Mastodon search syntax for one literal, and whether it is something to search for."""
    if isinstance(node, Not):
        inner = node.child
        if isinstance(inner, Term):
            text, _ = _literal(inner)
            return (f"-{text}" if text else "", False)
        return "", False  # an excluded group cannot be written: left out, so the search is wider
    assert isinstance(node, Term)
    if node.kind == "phrase":
        return f'"{node.value}"', True
    if node.kind == "lang":
        return f"language:{node.value}", False
    if node.kind in ("hashtag", "handle"):
        return node.value.lstrip("#$@"), True
    return node.value, True


def translate(query: str | None, *, max_searches: int = DEFAULT_MAX_SEARCHES) -> MastodonQuery:
    """Return the searches and hashtag timelines that find the statuses `query` matches (or more of them)."""
    if not query:
        return MastodonQuery((), ())
    tree = parse_query(query).tree
    searches: list[str] = []
    hashtags: list[str] = []
    skipped: list[str] = []
    for conjunction in _conjunctions(tree, max_searches):
        if len(conjunction) == 1 and isinstance(conjunction[0], Term) and conjunction[0].kind == "hashtag" \
                and conjunction[0].value.startswith("#"):
            tag = conjunction[0].value[1:]
            if tag.lower() not in {t.lower() for t in hashtags}:
                hashtags.append(tag)
            continue
        parts = [_literal(literal) for literal in conjunction]
        text = " ".join(part for part, _ in parts if part)
        if not any(searchable for _, searchable in parts):
            skipped.append(text or "(nothing)")
        elif text not in searches:
            if len(searches) < max_searches:
                searches.append(text)
            else:
                skipped.append(text)
    return MastodonQuery(tuple(searches), tuple(hashtags), tuple(skipped))


__all__ = ["DEFAULT_MAX_SEARCHES", "MastodonQuery", "translate"]
