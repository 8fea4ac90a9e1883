"""Scams and impostors: accounts that pose as the brand and bait are flagged; customers who report scams are not."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime

import pytest

from core.domain import Mention
from monitor.demo import SAMPLE_STREAM
from monitor.pipeline.scam import brand_marks, check_scam
from tests.support.paths import DATA_DIR

BRAND, ACCOUNTS = "Kestrel Mobile", ["KestrelMobile", "KestrelHelp"]


def post(text: str, handle: str = "maya_r", name: str = "Maya R") -> Mention:
    return Mention(network="x", external_id="1", author_handle=handle, author_name=name, text=text,
                   created_at=datetime(2026, 11, 30, 9, tzinfo=UTC), url="https://x.com/i/status/1")


def check(mention: Mention) -> tuple[bool, tuple[str, ...]]:
    verdict = check_scam(mention, brand_name=BRAND, accounts=ACCOUNTS, domains=["kestrel.example"])
    return verdict.flag, verdict.reasons


def test_the_brand_marks_are_its_distinctive_words_and_accounts() -> None:
    assert brand_marks(BRAND, ACCOUNTS) == ("kestrel", "kestrelhelp", "kestrelmobile")


@pytest.mark.parametrize(("handle", "name", "text", "why"), [
    ("kstrl_refunds", "Kestrel \u202etroppuS", "You are owed a refund, claim it at https://evil.example/r",
     "bidirectional controls"),
    ("kestre1_care", "Kestrel Care", "Reply with your PIN and the last 4 card digits to keep your line", "PIN"),
    ("deals4u", "Deals", "Claim your free Kestrel phone at kestrel-phones.example/win", "imitates the brand's name"),
    ("k3str3l_gifts", "Kestrel Gifts", "GIVEAWAY! free handset, click the link in our bio", "refund, prize"),
    ("kstrl_drops", "Kestrel Rewards", "Kestrel x crypto GIVEAWAY, link in bio #giveaway", "refund, prize"),
    ("kestrel_promo", "Kestrel Promo", "first 500 to send 0.05 ETH get 0.5 ETH back!! official partnership",
     "money or crypto up front"),
])
def test_an_impostor_that_baits_is_flagged_with_its_reasons(handle: str, name: str, text: str, why: str) -> None:
    flag, reasons = check(post(text, handle, name))
    assert flag and any(why in reason for reason in reasons), reasons


@pytest.mark.parametrize(("handle", "name", "text"), [
    ("maya_r", "Maya R", "@KestrelMobile I got a text asking for my PIN, is this you? Looks like a scam"),
    ("KestrelHelp", "Kestrel Help", "Please DM us your account number and we will sort the refund"),  # the brand
    ("kestrelfan", "Kestrel fan", "love the free roaming, claimed my bonus at kestrel.example/bonus"),  # own domain
    ("kestrel_watch", "Kestrel Watch", "Kestrel's outage map: https://downdetector.example/kestrel"),  # no bait
    ("birder", "Bird Watcher", "A kestrel hovering by the A34, free entertainment at birds.example"),  # no posing
    ("sam_k", "Sam K", "@KestrelMobile someone DMd me to send 0.05 ETH for a giveaway, link in bio. Is it you?"),
])
def test_customers_the_brand_and_bystanders_are_not_flagged(handle: str, name: str, text: str) -> None:
    assert check(post(text, handle, name)) == (False, ())


def test_on_the_demo_stream_only_spam_is_flagged_and_every_phishing_post_is() -> None:
    rows = [json.loads(line) for line in SAMPLE_STREAM.open(encoding="utf-8")]
    accounts = {"Kestrel Mobile": ["KestrelMobile"], "Orbital Telecom": ["OrbitalTelecom"]}
    flagged = {row["author_handle"]: row["demo_label"] for row in rows
               if check_scam(post(row["text"], row["author_handle"], row["author_name"]), brand_name=row["brand"],
                             accounts=accounts.get(row["brand"], [])).flag}
    assert set(flagged.values()) == {"spam"}
    assert {"kstrl_refunds", "kestrel_secure1", "0rbital_gifts", "kstrl_eth_drops"} <= set(flagged)


@pytest.mark.skipif(not (DATA_DIR / "conversations" / "twcs-sample.csv").exists(), reason="needs ../shared/data")
def test_no_real_customer_of_the_conversations_sample_is_flagged() -> None:
    brands = {"Amazon": ["AmazonHelp"], "Apple": ["AppleSupport"], "Chipotle": ["ChipotleTweets"]}
    checked = 0
    with (DATA_DIR / "conversations" / "twcs-sample.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["inbound"] != "True":
                continue
            for brand, accounts in brands.items():  # every customer, as if writing about each of the three
                checked += 1
                mention = post(row["text"], row["author_id"], row["author_id"])
                assert not check_scam(mention, brand_name=brand, accounts=accounts).flag, row["text"]
    assert checked > 6000
