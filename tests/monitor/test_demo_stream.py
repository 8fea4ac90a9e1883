"""Checks on the hand-written demo stream in monitor/demo/sample_stream.jsonl.

The stream feeds the demo and the end-to-end tests, so its shape is pinned here: field types, id and
thread structure on X, Reddit, Bluesky and Mastodon, the Wednesday outage burst, languages, hostile strings and
the label mix.
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
#: Bluesky and Mastodon posts carry the author's stable id too (a DID, an account id), as those sources keep it.
FEDERATED = {"bluesky", "mastodon"}
NETWORKS = {"x", "reddit", *FEDERATED}
BRANDS = {"Kestrel Mobile": "@kestrelmobile", "Orbital Telecom": "@orbitaltelecom",
          "Quokka Wireless": "@quokkawireless"}
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
DID = re.compile(r"^did:plc:[a-z2-7]{24}$")
#: An atproto record key (TID): 13 base-32-sortable characters, the first one with the top bit clear.
TID = r"[2-7a-j][2-7a-z]{12}"
AT_URI = re.compile(rf"^at://(did:plc:[a-z2-7]{{24}})/app\.bsky\.feed\.post/({TID})$")
MASTODON_ID = re.compile(r"^[1-9]\d{17}$")
BLUESKY_HANDLE = re.compile(r"^(?=.{3,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,}$")
MASTODON_ACCT = re.compile(r"^([A-Za-z0-9_]{1,30})@((?:[a-z0-9-]+\.)+[a-z]{2,})$")


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
    assert 380 <= len(posts) <= 440


def test_every_field_present_with_the_right_type(posts):
    for p in posts:
        assert set(p) == (FIELDS | {"author_id"} if p["network"] in FEDERATED else FIELDS), p["id"]
        for key in ("id", "author_handle", "author_name", "text", "lang", "created_at", "url"):
            assert isinstance(p[key], str) and p[key].strip(), (p["id"], key)
        assert p["network"] in NETWORKS
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


def test_every_network_is_in_the_stream(posts):
    networks = Counter(p["network"] for p in posts)
    assert set(networks) == NETWORKS
    assert networks["bluesky"] >= 15 and networks["mastodon"] >= 15
    for network in FEDERATED:
        mine = [p for p in posts if p["network"] == network]
        assert {p["brand"] for p in mine} == set(BRANDS), network
        assert any(p["summoned"] for p in mine) and any(not p["summoned"] for p in mine), network
        assert any(p["parent_id"] for p in mine), f"{network}: expected a customer coming back in a thread"
        assert len({p["lang"] for p in mine}) >= 4, network


def test_handles_follow_network_rules(posts):
    patterns = {"x": re.compile(r"[A-Za-z0-9_]{1,15}"), "reddit": re.compile(r"[A-Za-z0-9_-]{3,20}"),
                "bluesky": BLUESKY_HANDLE, "mastodon": MASTODON_ACCT}
    for p in posts:
        assert patterns[p["network"]].fullmatch(p["author_handle"]), p["author_handle"]


def test_federated_authors_have_stable_ids(posts):
    """A DID on Bluesky, a numeric account id on Mastodon: the same for every post of one handle, unique to it."""
    ids: dict[tuple[str, str], set[str]] = defaultdict(set)
    for p in posts:
        if p["network"] == "bluesky":
            assert DID.match(p["author_id"]), p["author_id"]
            assert AT_URI.match(p["id"]).group(1) == p["author_id"], p["id"]
        elif p["network"] == "mastodon":
            assert re.fullmatch(r"[1-9]\d{15,18}", p["author_id"]), p["author_id"]
        else:
            continue
        assert isinstance(p["author_followers"], int)
        ids[(p["network"], p["author_handle"])].add(p["author_id"])
    assert all(len(found) == 1 for found in ids.values())
    every = [next(iter(found)) for found in ids.values()]
    assert len(every) == len(set(every))


def test_ids_unique_and_well_formed(posts):
    ids = [p["id"] for p in posts]
    assert len(ids) == len(set(ids))
    for p in posts:
        if p["network"] == "x":
            assert X_ID.match(p["id"]), p["id"]
        elif p["network"] == "bluesky":
            assert AT_URI.match(p["id"]), p["id"]
        elif p["network"] == "mastodon":
            assert MASTODON_ID.match(p["id"]), p["id"]
        else:
            assert SUBMISSION_ID.match(p["id"]) or COMMENT_ID.match(p["id"]), p["id"]


def test_federated_ids_carry_their_time(posts):
    """Mastodon ids hold milliseconds in their high bits, a TID microseconds: both agree with created_at."""
    for p in posts:
        if p["network"] == "mastodon":
            made = datetime.fromtimestamp((int(p["id"]) >> 16) / 1000, UTC)
        elif p["network"] == "bluesky":
            value = 0
            for char in AT_URI.match(p["id"]).group(2):
                value = value * 32 + "234567abcdefghijklmnopqrstuvwxyz".index(char)
            made = datetime.fromtimestamp((value >> 10) / 1_000_000, UTC)
        else:
            continue
        assert abs((made - _when(p)).total_seconds()) < 2, p["id"]


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
        elif p["network"] == "bluesky":
            rkey = AT_URI.match(p["id"]).group(2)
            assert p["url"] == f"https://bsky.app/profile/{p['author_handle']}/post/{rkey}"
        elif p["network"] == "mastodon":
            user, instance = MASTODON_ACCT.match(p["author_handle"]).groups()
            assert p["url"] == f"https://{instance}/@{user}/{p['id']}"
        else:
            m = re.match(r"^https://www\.reddit\.com/r/(\w+)/comments/([0-9a-z]+)/(\w+)/(?:([0-9a-z]+)/)?$", p["url"])
            assert m, p["url"]
            assert m.group(2) == p["conversation_id"][3:]
            if p["id"].startswith("t1_"):
                assert m.group(4) == p["id"][3:]
            else:
                assert m.group(4) is None and p["id"] == p["conversation_id"]


def test_texts_fit_their_network(posts):
    limits = {"x": 280, "bluesky": 300, "mastodon": 500}  # Bluesky counts graphemes: never more than characters
    for p in posts:
        if p["network"] in limits:
            assert len(p["text"]) <= limits[p["network"]], (p["id"], len(p["text"]))


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
        if p["network"] != "reddit":
            assert parent is not None, f"{p['network']} reply {p['id']} points outside the stream"
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
        if p["network"] in FEDERATED and p["summoned"]:  # the brand's account on that network, by its full name
            account = {"bluesky": "@kestrelmobile.bsky.social", "mastodon": "@kestrelmobile@mastodon.social"}
            assert account[p["network"]] in p["text"].lower(), p["id"]
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
    assert 8 <= langs["es"] <= 14
    assert 5 <= langs["zh"] <= 8
    for lang in ("fr", "de", "pt"):
        assert 4 <= langs[lang] <= 10, lang
    for lang in ("es", "zh", "fr", "de", "pt"):
        assert any(p["lang"] == lang and p["demo_label"] in COMPLAINTS | {"competitor_complaint"} for p in posts)
    for lang in ("es", "fr", "de", "pt"):  # the team answers these: each has a Kestrel post that needs a reply
        assert any(p["lang"] == lang and p["brand"] == "Kestrel Mobile" and p["summoned"]
                   and p["demo_label"] in COMPLAINTS | {"question"} for p in posts), lang
    zh = [p for p in posts if p["lang"] == "zh"]
    assert all(re.search(r"[\u4e00-\u9fff]", p["text"]) for p in zh)


ENGLISH = {"the", "and", "is", "my", "to", "of", "it", "for", "you", "this", "with", "on", "was", "have"}


@pytest.mark.parametrize(("lang", "words"), [
    ("es", {"el", "la", "que", "de", "en", "hola", "gracias", "mi", "con", "no", "es", "y", "muy", "me", "ha", "los",
            "por", "sin"}),
    ("fr", {"le", "la", "de", "est", "je", "merci", "bonjour", "mon", "ma", "pas", "que", "en", "et", "pour", "à",
            "très", "les", "des"}),
    ("de", {"der", "die", "das", "und", "ist", "kein", "nicht", "ich", "von", "seit", "es", "auch", "in", "für",
            "keine", "dann", "mit", "bin"}),
    ("pt", {"o", "a", "de", "que", "não", "em", "olá", "obrigada", "nem", "da", "do", "me", "os", "no", "na", "é",
            "pela", "para"}),
])
def test_non_english_posts_are_in_their_language(posts, lang, words):
    """Each post tagged with a language uses its common words, and more of them than English ones."""
    for p in posts:
        if p["lang"] == lang:
            tokens = set(re.findall(r"\w+", p["text"].lower()))
            assert len(tokens & words) > len(tokens & ENGLISH), (p["id"], p["text"])
