"""Urgency keyword rules and score."""

from __future__ import annotations

import pytest

from models.urgency import UrgencyRules, urgency_score


def test_most_urgent_category_wins_and_phrases_are_reported() -> None:
    found = UrgencyRules().match("Charged twice AND the charger caught fire")
    assert found.category == "safety" and found.phrases == ("caught fire",)


def test_curly_apostrophes_match_straight_phrases() -> None:
    assert UrgencyRules().match("the site won\u2019t load since noon").category == "outage"


def test_phrases_match_whole_words_only() -> None:
    assert UrgencyRules().match("what a billboard").category == "none"


def test_brand_keywords_apply_to_their_brand_only() -> None:
    rules = UrgencyRules({"delivery": ["click and collect"]}, per_brand={"Acme": {"legal": ["recall notice"]}})
    assert rules.match("got a recall notice today", "acme").category == "legal"
    assert rules.match("got a recall notice today", "zeta").category == "none"
    assert rules.match("click and collect is slow").category == "delivery"


@pytest.mark.parametrize("text", [
    "Mildly irritated by 3 marketing texts today. I get it, Black Friday. Calm down.",  # issue 14's CRITICAL outage
    "Fibre install done, 900 down on the first test",  # a speed test
    "80 Mbps down and 20 up, happy", "you let me down again", "hands down the best network",
    "sat down to watch the match", "1st down and ten", "my account got locked down", "down the road from me",
])
def test_idioms_that_hold_down_are_no_outage(text: str) -> None:
    assert UrgencyRules().match(text).category == "none"


@pytest.mark.parametrize("text", [
    "Kestrel down nationwide?", "@KestrelMobile down again in Croydon", "broadband down 2nd day",
    "sat down to watch and the app is down", "network down since 9", "calm down? my signal has been down all day",
])
def test_down_still_means_an_outage_outside_those_idioms(text: str) -> None:
    found = UrgencyRules().match(text)
    assert found.category == "outage" and "down" in found.phrases


@pytest.mark.parametrize(("text", "category"), [
    ("Last time I switched networks it took 4 days, this took 3 hours", "none"),  # a story, said in praise
    ("The last time I had @ChipotleTweets was Halloween, SO EXCITED", "none"),  # issue 14's churn risk
    ("@ShockTop This is the last time I buy shocktop", "churn_risk"),  # the complaints set's goodbye
    ("that's the last time I fly with you", "churn_risk"),
    ("never again, last time i ever order from here", "churn_risk"),
])
def test_last_time_is_churn_only_as_a_goodbye(text: str, category: str) -> None:
    assert UrgencyRules().match(text).category == category


@pytest.mark.parametrize("text", [
    "Found this lovely piece of plastic in my @ChipotleTweets bowl today",  # the conversations sample
    "there was a piece of glass in one of your cans", "found a hair in my soup bowl",
])
def test_something_in_the_food_is_a_safety_matter(text: str) -> None:
    assert UrgencyRules().match(text).category == "safety"


@pytest.mark.parametrize("text", ["@AmazonHelp trying off my fire stick", "my Fire TV keeps restarting",
                                  "honestly burned out on this hold music", "fire up the new app"])
def test_fire_devices_and_figures_of_speech_are_no_safety_matter(text: str) -> None:
    assert UrgencyRules().match(text).category != "safety"


@pytest.mark.parametrize(("text", "category"), [
    ("roaming in Lisbon just worked. no texts, no faff, no bill shock. thank you", "none"),  # issue 14's example
    ("the screen was swapped at no charge", "none"), ("no hidden fees they said", "none"),
    ("11 days since I cancelled and still no refund", "billing"),
    ("no hidden fees, no bill shock, but they charged me twice", "billing"),
])
def test_money_that_was_not_taken_is_no_billing_matter(text: str, category: str) -> None:
    assert UrgencyRules().match(text).category == category


def test_a_brands_own_phrase_is_matched_as_written() -> None:
    rules = UrgencyRules(per_brand={"Acme": {"outage": ["calm down"]}})
    assert rules.match("please calm down the app", "acme").category == "outage"
    assert rules.match("please calm down the app", "zeta").category == "none"


def test_unknown_category_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown urgency category 'vip'"):
        UrgencyRules({"vip": ["ceo"]})


def test_score_rises_with_category_negativity_and_severity() -> None:
    calm = urgency_score(category="none", negative_prob=0.1, complaint_prob=0.1, severity=0)
    angry = urgency_score(category="billing", negative_prob=0.9, complaint_prob=0.9, severity=3)
    worst = urgency_score(category="safety", negative_prob=1.0, complaint_prob=1.0, severity=4)
    assert 0.0 <= calm < angry < worst == 1.0
