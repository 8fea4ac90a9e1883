"""Checks on the hand-written demo stream in monitor/demo/sample_stream.jsonl.

The stream feeds the demo and the end-to-end tests, so its shape is pinned here: field types, id and
thread structure, the Wednesday outage burst, languages, hostile strings and the label mix.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest

from tests.support.paths import ROOT

STREAM = ROOT / "monitor" / "demo" / "sample_stream.jsonl"

FIELDS = {
    "id", "network", "brand", "author_handle", "author_name", "author_followers", "author_verified",
    "text", "lang", "created_at", "url", "conversation_id", "parent_id", "summoned", "demo_label",
}
BRANDS = {"Kestrel Mobile": "@kestrelmobile", "Orbital Telecom": "@orbitaltelecom", "Quokka Wireless": "@quokkawireless"}
LABELS = {
    "praise", "question", "complaint_mild", "complaint_moderate", "complaint_severe", "complaint_critical",
    "outage", "sarcasm", "spam", "neutral_news", "competitor_praise", "competitor_complaint", "thanks_followup",
}
COMPLAINTS = {"complaint_mild", "complaint_moderate", "complaint_severe", "complaint_critical"}
WEEK_START = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)
WEEK_END = datetime(2026, 11, 22, 23, 59, 59, tzinfo=UTC)
OUTAGE_START = datetime(2026, 11, 19, 7, 40, tzinfo=UTC)
OUTAGE_END = datetime(2026, 11, 19, 9, 30, tzinfo=UTC)
STATUS_URL = "https://status.kestrel-mobile.example/incidents/2611"
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
X_ID = re.compile(r"^[1-9]\d{17,19}$")
SUBMISSION_ID = re.compile(r"^t3_[0-9a-z]{5,8}$")
COMMENT_ID = re.compile(r"^t1_[0-9a-z]{5,8}$")


def _when(post: dict) -> datetime:
    return datetime.strptime(post["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def posts() -> list[dict]:
    lines = STREAM.read_text(encoding="utf-8").splitlines()
    assert all(line.strip() for line in lines), "blank line in the stream"
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def by_id(posts):
    return {p["id"]: p for p in posts}


@pytest.fixture(scope="module")
def kestrel(posts):
    return [p for p in posts if p["brand"] == "Kestrel Mobile"]


def _in_outage(post: dict) -> bool:
    return OUTAGE_START <= _when(post) <= OUTAGE_END


# ---------------------------------------------------------------- shape

def test_post_count(posts):
    assert 320 <= len(posts) <= 380


def test_every_field_present_with_the_right_type(posts):
    for p in posts:
        assert set(p) == FIELDS, p["id"]
        for key in ("id", "author_handle", "author_name", "text", "lang", "created_at", "url"):
            assert isinstance(p[key], str) and p[key].strip(), (p["id"], key)
        assert p["network"] in {"x", "reddit"}
        assert p["brand"] in BRANDS
        assert p["demo_label"] in LABELS
        assert p["author_followers"] is None or (
            type(p["author_followers"]) is int and 2 <= p["author_followers"] <= 400_000
        ), p["id"]
        assert type(p["author_verified"]) is bool
        assert type(p["summoned"]) is bool
        assert p["conversation_id"] is None or isinstance(p["conversation_id"], str)
        assert p["parent_id"] is None or isinstance(p["parent_id"], str)
        assert re.fullmatch(r"[a-z]{2}", p["lang"]), p["lang"]
        assert TS.match(p["created_at"]), p["created_at"]


def test_x_authors_have_follower_counts(posts):
    x_posts = [p for p in posts if p["network"] == "x"]
    assert all(isinstance(p["author_followers"], int) for p in x_posts)
    followers = [p["author_followers"] for p in x_posts]
    assert min(followers) <= 10 and max(followers) >= 200_000


def test_handles_follow_network_rules(posts):
    for p in posts:
        pattern = r"[A-Za-z0-9_]{1,15}" if p["network"] == "x" else r"[A-Za-z0-9_-]{3,20}"
        assert re.fullmatch(pattern, p["author_handle"]), p["author_handle"]


def test_ids_unique_and_well_formed(posts):
    ids = [p["id"] for p in posts]
    assert len(ids) == len(set(ids))
    for p in posts:
        if p["network"] == "x":
            assert X_ID.match(p["id"]), p["id"]
        else:
            assert SUBMISSION_ID.match(p["id"]) or COMMENT_ID.match(p["id"]), p["id"]


def test_sorted_within_the_week(posts):
    times = [_when(p) for p in posts]
    assert times == sorted(times)
    assert all(WEEK_START <= t <= WEEK_END for t in times)
    assert {t.day for t in times} == set(range(16, 23)), "every day of the week has posts"


def test_x_ids_increase_with_time(posts):
    x_ids = [int(p["id"]) for p in posts if p["network"] == "x"]
    assert x_ids == sorted(x_ids)


def test_more_posts_by_day_than_by_night(posts):
    hours = Counter(_when(p).hour for p in posts)
    night = sum(hours[h] for h in range(0, 7))
    day = sum(hours[h] for h in range(8, 22))
    assert day > 8 * night


def test_urls_match_network_and_id(posts):
    for p in posts:
        if p["network"] == "x":
            assert p["url"] == f"https://x.com/{p['author_handle']}/status/{p['id']}"
        else:
            m = re.match(r"^https://www\.reddit\.com/r/(\w+)/comments/([0-9a-z]+)/(\w+)/(?:([0-9a-z]+)/)?$", p["url"])
            assert m, p["url"]
            assert m.group(2) == p["conversation_id"][3:]
            if p["id"].startswith("t1_"):
                assert m.group(4) == p["id"][3:]
            else:
                assert m.group(4) is None and p["id"] == p["conversation_id"]


def test_x_texts_fit_280(posts):
    for p in posts:
        if p["network"] == "x":
            assert len(p["text"]) <= 280, (p["id"], len(p["text"]))


def test_some_long_reddit_posts(posts):
    long_posts = [p for p in posts if p["network"] == "reddit" and 500 <= len(p["text"]) <= 900]
    assert len(long_posts) >= 4
    assert all(len(p["text"]) <= 1000 for p in posts if p["network"] == "reddit")


# ---------------------------------------------------------------- threads

def test_threads_are_consistent(posts, by_id):
    for p in posts:
        assert p["conversation_id"] is not None
        if p["parent_id"] is None:
            assert p["conversation_id"] == p["id"], p["id"]
            continue
        parent = by_id.get(p["parent_id"])
        if p["network"] == "x":
            assert parent is not None, f"X reply {p['id']} points outside the stream"
        if parent is not None:
            assert _when(parent) < _when(p)
            assert parent["network"] == p["network"]
            assert parent["conversation_id"] == p["conversation_id"]
        if p["network"] == "reddit":
            assert p["id"].startswith("t1_") and p["conversation_id"].startswith("t3_")
        root = by_id.get(p["conversation_id"])
        if root is not None:
            assert root["parent_id"] is None


def test_multi_post_customers(posts):
    by_author = defaultdict(list)
    for p in posts:
        by_author[(p["network"], p["author_handle"])].append(p)
    customers = {
        a: ps for a, ps in by_author.items()
        if 2 <= len(ps) <= 4 and all(p["demo_label"] not in {"spam", "neutral_news"} for p in ps)
    }
    assert len(customers) >= 10
    threaded = [a for a, ps in customers.items() if len({p["conversation_id"] for p in ps}) < len(ps)]
    assert len(threaded) >= 8, "returning customers should reply in their own threads"
    # a story arc: at least a few customers go from a question/complaint to a thank-you
    arcs = 0
    for ps in customers.values():
        labels = [p["demo_label"] for p in sorted(ps, key=_when)]
        if labels[-1] == "thanks_followup" and any(lab == "question" or lab in COMPLAINTS for lab in labels[:-1]):
            arcs += 1
    assert arcs >= 8
    assert max(len(ps) for ps in by_author.values()) <= 4


def test_summoned_matches_mentions(posts):
    for p in posts:
        text = p["text"].lower()
        mentioned = BRANDS[p["brand"]] in text or (
            p["brand"] == "Kestrel Mobile" and "u/kestrelmobile_support" in text
        )
        if mentioned:
            assert p["summoned"], p["id"]
    summoned_without_mention = [
        p for p in posts if p["summoned"] and BRANDS[p["brand"]] not in p["text"].lower()
    ]
    assert summoned_without_mention, "expected at least one quote/u/ summons without an @handle"
    assert any(not p["summoned"] for p in posts)


# ---------------------------------------------------------------- mix

def test_share_of_voice(posts):
    share = Counter(p["brand"] for p in posts)
    n = len(posts)
    assert 0.60 <= share["Kestrel Mobile"] / n <= 0.70
    assert 0.15 <= share["Orbital Telecom"] / n <= 0.25
    assert 0.10 <= share["Quokka Wireless"] / n <= 0.20


def test_every_label_present(posts):
    assert {p["demo_label"] for p in posts} == LABELS


def test_kestrel_label_mix(kestrel):
    n = len(kestrel)
    labels = Counter(p["demo_label"] for p in kestrel)
    assert 0.12 <= labels["praise"] / n <= 0.18
    assert 0.09 <= labels["question"] / n <= 0.15
    assert 0.25 <= sum(labels[c] for c in COMPLAINTS) / n <= 0.35
    assert 0.03 <= labels["sarcasm"] / n <= 0.06
    assert 0.04 <= labels["spam"] / n <= 0.07
    for label in COMPLAINTS | {"neutral_news", "thanks_followup", "outage"}:
        assert labels[label] >= 4, label


def test_complaint_topics_covered(kestrel):
    texts = {label: " ".join(p["text"].lower() for p in kestrel if p["demo_label"] == label) for label in COMPLAINTS}
    everything = " ".join(texts.values())
    assert "twice" in everything or "double" in everything          # billing
    assert "delivered" in everything or "order" in everything        # delivery
    assert "orbital" in everything                                   # churn to a competitor
    assert "burn" in texts["complaint_critical"]                      # safety
    assert "small claims" in texts["complaint_critical"]              # legal
    assert "ombudsman" in texts["complaint_critical"]


def test_competitor_posts_use_competitor_labels(posts):
    for brand in ("Orbital Telecom", "Quokka Wireless"):
        labels = Counter(p["demo_label"] for p in posts if p["brand"] == brand)
        assert labels["competitor_praise"] >= 10 and labels["competitor_complaint"] >= 10
        assert set(labels) <= {"competitor_praise", "competitor_complaint", "neutral_news", "spam"}


# ---------------------------------------------------------------- outage burst

def test_outage_burst(kestrel):
    burst = [p for p in kestrel if _in_outage(p)]
    assert 60 <= len(burst) <= 85
    assert sum(p["demo_label"] == "outage" for p in burst) >= 55
    outage_outside = [p for p in kestrel if p["demo_label"] == "outage" and not _in_outage(p)]
    assert not outage_outside


def test_outage_burst_has_near_duplicates(kestrel):
    burst = [p for p in kestrel if _in_outage(p)]
    texts = [p["text"] for p in burst]
    assert sum(STATUS_URL in t for t in texts) >= 8
    retweets = [p for p in burst if p["text"].startswith("RT @")]
    assert len(retweets) >= 8
    originals = {f"RT @{p['author_handle']}: {p['text']}" for p in burst}
    for rt in retweets:
        assert rt["text"] in originals or rt["text"].endswith("…"), rt["text"]
    copies = Counter(texts)
    assert copies.most_common(1)[0][1] >= 3, "expected copy-paste wording"
    assert any("999" in t for t in texts)
    assert any("is @kestrelmobile down" in t.lower() for t in texts)


def test_outage_burst_has_large_accounts(kestrel):
    burst = [p for p in kestrel if _in_outage(p)]
    big = [p for p in burst if p["author_followers"] and 50_000 <= p["author_followers"] <= 400_000]
    assert len({p["author_handle"] for p in big}) >= 4
    assert any(p["author_verified"] for p in big)


# ---------------------------------------------------------------- languages and hostile strings

def test_languages(posts):
    langs = Counter(p["lang"] for p in posts)
    assert 6 <= langs["es"] <= 10
    assert 5 <= langs["zh"] <= 8
    assert langs["fr"] + langs["de"] >= 2
    for lang in ("es", "zh"):
        assert any(p["lang"] == lang and p["demo_label"] in COMPLAINTS | {"competitor_complaint"} for p in posts)
    zh = [p for p in posts if p["lang"] == "zh"]
    assert all(re.search(r"[\u4e00-\u9fff]", p["text"]) for p in zh)


def test_hostile_strings_present(posts):
    texts = [p["text"] for p in posts]
    assert any("<!channel>" in t for t in texts)
    assert any("<https://evil.example|Kestrel refund portal>" in t for t in texts)
    assert any("<script>alert(1)</script>" in t for t in texts)
    assert any("\u202e" in p["author_name"] for p in posts)
    assert any("&amp;" in t and re.search(r"\*[^*\s][^*]*\*", t) and re.search(r"\b_[^_\s][^_]*_\b", t) for t in texts)
    hostile = [p for p in posts if re.search(r"<!channel>|evil\.example|<script>|&amp;", p["text"])]
    assert all(p["demo_label"] == "spam" for p in hostile)
