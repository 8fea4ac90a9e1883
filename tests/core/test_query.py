"""The boolean brand query: one parser, X syntax, Reddit syntax and a local matcher that agree."""

from __future__ import annotations

import pytest

from core.query import QueryError, compile_matcher, parse_query
from core.settings import ConfigError, parse_settings

EXAMPLE = '("kestrel mobile" OR @KestrelMobile OR "kestrel app" OR "kestrel fibre") -falcon -birdwatching'


def test_example_query_renders_for_x_and_reddit() -> None:
    parsed = parse_query(EXAMPLE)
    assert parsed.to_x() == EXAMPLE
    assert parsed.to_reddit() == ('("kestrel mobile" OR KestrelMobile OR "kestrel app" OR "kestrel fibre") '
                                  "AND NOT falcon AND NOT birdwatching")
    assert parsed.to_x(extra="-is:retweet") == EXAMPLE + " -is:retweet"


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("Kestrel Mobile charged me twice", None, True),
        ("kestrel-mobile app is down again", None, True),  # a phrase matches across punctuation, as X tokenises
        ("@KestrelMobile no signal in Leeds", None, True),
        ("@KestrelMobileFans meetup tonight", None, False),  # another account whose name starts the same
        ("saw a kestrel mobile hide near the falcon nest", None, False),  # the "Apple problem": excluded words
        ("KESTREL FIBRE install went fine", "en", True),
        ("the kestrel app’s new update is great", None, True),
        ("Késtrel Mobile, ça marche", "fr", True),  # accents fold, as X's match does
        ("kestrel hovering over the field", None, False),  # the bird alone is not the brand
    ],
)
def test_local_matcher_filters_name_collisions(text: str, language: str | None, expected: bool) -> None:
    assert compile_matcher(EXAMPLE)(text, language) is expected


def test_precedence_follows_x_and_binds_before_or() -> None:
    parsed = parse_query("apple iphone OR ipad")
    assert parsed.matches("ipad on sale")
    assert not parsed.matches("iphone on sale")
    assert parsed.matches("apple iphone on sale")
    assert parsed.to_x() == "(apple iphone) OR ipad"
    assert parse_query("apple AND (iphone OR ipad)").to_reddit() == "apple AND (iphone OR ipad)"


def test_lang_filters_locally_and_is_widened_away_for_reddit() -> None:
    parsed = parse_query("kestrel (outage OR down) lang:en -lang:fr")
    assert parsed.to_x() == "kestrel (outage OR down) lang:en -lang:fr"
    assert parsed.to_reddit() == "kestrel AND (outage OR down)"
    assert parsed.matches("Kestrel down again", "en")
    assert parsed.matches("Kestrel down again", "en-GB")
    assert not parsed.matches("Kestrel down again", "de")
    assert not parsed.matches("Kestrel down again", None)  # lang: asks for a known language
    # a lang: term inside OR would make Reddit's query match everything: refused rather than widened to *
    with pytest.raises(QueryError, match="every Reddit post"):
        parse_query("kestrel OR lang:en").to_reddit()


def test_not_keyword_and_minus_mean_the_same() -> None:
    a, b = parse_query("kestrel NOT falcon"), parse_query("kestrel -falcon")
    for text in ("kestrel falcon", "kestrel plan", "falcon"):
        assert a.matches(text) == b.matches(text)
    assert a.to_x() == b.to_x() == "kestrel -falcon"
    assert parse_query("kestrel -(bird OR falcon)").to_x() == "kestrel -(bird OR falcon)"
    assert parse_query("kestrel -(bird OR falcon)").to_reddit() == "kestrel AND NOT (bird OR falcon)"


def test_lowercase_or_is_a_word_like_on_x() -> None:
    parsed = parse_query("kestrel or orbital")
    assert parsed.to_x() == "kestrel or orbital"
    assert not parsed.matches("kestrel only")
    assert parsed.matches("kestrel or orbital, which is better")


def test_hashtags_and_handles() -> None:
    parsed = parse_query("#KestrelDown OR @kestrelmobile")
    assert parsed.matches("so fed up #kestreldown")
    assert not parsed.matches("so fed up #kestreldowntown")
    assert parsed.to_reddit() == "KestrelDown OR kestrelmobile"


@pytest.mark.parametrize(
    ("query", "message", "column"),
    [
        ("(kestrel OR orbital", "'(' is never closed", 1),
        ("kestrel) OR orbital", "')' has no matching '('", 8),
        ('kestrel "mobile app', "unterminated quoted phrase", 9),
        ("kestrel OR", "OR needs a term on both sides", 9),
        ("kestrel AND AND orbital", "AND needs a term on both sides", 9),
        ("kestrel - falcon", "'-' must be followed", 9),
        ("kestrel ()", "empty parentheses", 9),
        ("kestrel from:bob", "unsupported operator 'from:'", 9),
        ("kestrel lang:english", "language code", 9),
        ("-falcon -bird", "only excludes", 1),
        ("lang:en", "lang: only filters", 1),
        ('kestrel ""', "empty quoted phrase", 9),
    ],
)
def test_broken_queries_name_their_column(query: str, message: str, column: int) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert message in str(caught.value)
    assert caught.value.column == column
    assert str(caught.value).endswith(f"at column {column}")


def test_over_long_query_is_refused_with_x_limit() -> None:
    words = " OR ".join(f'"kestrel product {i}"' for i in range(30))
    assert len(words) <= 1000
    with pytest.raises(QueryError, match="X allows 512"):
        parse_query(words)


def test_broken_query_fails_at_config_load_with_its_path() -> None:
    data = {"brands": [{"name": "Kestrel", "query": "kestrel"}, {"name": "Orbital", "query": "orbital (telecom"}]}
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, origin="config/brandmon.yaml")
    assert str(caught.value) == (
        "config/brandmon.yaml: brands[1].query: unbalanced parenthesis: '(' is never closed at column 9"
    )


def test_pipeline_gets_one_matcher_per_brand() -> None:
    from monitor.pipeline import _query_matchers

    settings = parse_settings({"brands": [{"name": "Kestrel", "query": EXAMPLE}]}, origin="t.yaml")
    matchers = _query_matchers(settings)
    assert matchers is not None
    assert matchers["Kestrel"]("Kestrel Mobile outage", "en")
    assert not matchers["Kestrel"]("a kestrel and a falcon", "en")
