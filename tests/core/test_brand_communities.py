"""A brand's own communities (`brands[].communities`): checked at start, and read from a post's address."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.settings.brands import BrandSettings, community_of


def brand(**communities: object) -> BrandSettings:
    return BrandSettings(name="Kestrel Mobile", query="kestrel", communities=communities)  # type: ignore[arg-type]


def test_subreddits_are_named_with_or_without_r_and_matched_by_address_in_any_case() -> None:
    kestrel = brand(reddit=["r/KestrelMobile", "KestrelFibre"])
    assert kestrel.communities == {"reddit": ["KestrelMobile", "KestrelFibre"]}
    assert kestrel.in_community("reddit", "https://www.reddit.com/r/kestrelmobile/comments/1l5v9x/help/khc9cso/")
    assert kestrel.in_community("reddit", "https://old.reddit.com/r/KestrelFibre/comments/1l5v9x/")
    assert not kestrel.in_community("reddit", "https://www.reddit.com/r/uknetworks/comments/1l5v9x/")
    assert not kestrel.in_community("reddit", "https://www.reddit.com/r/KestrelMobileFans/comments/1/")
    assert not kestrel.in_community("x", "https://www.reddit.com/r/KestrelMobile/comments/1/")  # not Reddit's post
    assert not brand().in_community("reddit", "https://www.reddit.com/r/KestrelMobile/comments/1/")
    assert community_of("reddit", "https://evil.example/?u=reddit.com/r/KestrelMobile/") is None


@pytest.mark.parametrize(("communities", "message"), [
    ({"x": ["KestrelMobile"]}, "communities.x: only reddit communities are known"),
    ({"reddit": []}, "subreddit names"),
    ({"reddit": ["r/"]}, "subreddit names"),
    ({"reddit": ["Kestrel Mobile"]}, "subreddit names"),
    ({"reddit": ["r/a/b"]}, "subreddit names"),
])
def test_a_community_that_cannot_be_one_is_refused_with_its_place(communities: dict[str, list[str]],
                                                                  message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        brand(**communities)
