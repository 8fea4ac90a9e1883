"""Scams and impostors: posts from accounts that pose as the brand and bait its customers.

A post is flagged when its author poses as the brand and it baits: the author is none of the brand's accounts, yet
its handle, display name or a linked domain imitates the brand (lookalike spellings such as "kstrl_refunds" or
"0rbital_gifts", a display name with bidirectional controls, a name that claims a support or security role), and the
post asks for secrets ("reply with your PIN") or sends people to a refund, claim or giveaway link off the brand's own
domains. A customer who reports a scam ("I got a text asking for my PIN, is this you?") poses as nobody and is not
flagged. Flagged posts go to the security route, never to a thank-you or a reply (README, "Scams and impostors").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

#: Digits and signs that stand in for letters in lookalike handles.
_CONFUSABLES = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s",
                              "|": "l", "!": "i"})
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_VOWELS = re.compile("[aeiouy]")
#: Words of a company's own voice: an account whose name pairs the brand with one of them claims to speak for it.
_ROLES = re.compile(r"\b(support|help|care|security|team|official|refunds?|billing|service|gifts?|giveaways?|"
                    r"rewards?|promo|hq|admin)\b", re.IGNORECASE)
_LINK = re.compile(r"(?:https?://)?((?:[a-z0-9-]+\.)+[a-z]{2,})(?:/[^\s|>]*)?", re.IGNORECASE)
_BAIT = re.compile(r"\b(refunds?|claim|owed|prizes?|giveaway|free|verify|verification|suspend\w*|rewards?|"
                   r"compensation|gift ?cards?|winner|won)\b|link in (?:our |my |the )?bio", re.IGNORECASE)
_BIO_LINK = re.compile(r"link in (?:our |my |the )?bio", re.IGNORECASE)
#: Money asked for up front ("send 0.05 ETH, get 0.5 back"): the advance-fee giveaway.
_MONEY_ASK = re.compile(r"\b(send|transfer|deposit|pay)\b.{0,40}?\b(eth|btc|bitcoin|usdt|crypto|gift ?cards?)\b",
                        re.IGNORECASE | re.DOTALL)
_SECRET_ASK = re.compile(
    r"\b(reply|dm|send|message|share|confirm|tell|provide|enter)\b.{0,60}?\b(pin|password|passcode|card numbers?|"
    r"card digits|cvv|cvc|otp|one[- ]time (?:code|password)|verification code|security code|seed phrase|"
    r"login details|bank details|sort code)\b", re.IGNORECASE | re.DOTALL)
#: Words too common to identify a brand on their own ("Kestrel Mobile" is identified by "kestrel").
_GENERIC = {"mobile", "telecom", "wireless", "the", "inc", "ltd", "group", "bank", "energy", "support", "help",
            "company", "official", "store", "shop", "airlines", "air", "uk", "us"}


class Post(Protocol):
    """What the check reads of a post: a `Mention`, or a stored `MentionRow` while it is routed."""

    @property
    def author_handle(self) -> str: ...

    @property
    def author_name(self) -> str: ...

    @property
    def text(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ScamCheck:
    """Whether a post is a scam or an impostor's, and the signals that said so (shown to the team)."""

    flag: bool
    reasons: tuple[str, ...] = ()


def _plain(text: str) -> str:
    """Fold `text` to lowercase letters: compatibility forms, accents and lookalike digits undone."""
    folded = unicodedata.normalize("NFKD", _BIDI.sub("", text)).casefold().translate(_CONFUSABLES)
    return "".join(ch for ch in folded if ch.isalpha())


def _skeleton(text: str) -> str:
    """Return the consonants of `text`: "kstrl" for "Kestrel", and for "kstrl"."""
    return _VOWELS.sub("", text)


def brand_marks(brand_name: str, accounts: Iterable[str]) -> tuple[str, ...]:
    """Return the words that identify the brand: its distinctive name words and its account names, folded."""
    words = [_plain(word) for word in re.split(r"[\s_.-]+", brand_name)]
    marks = {word for word in words if len(word) >= 4 and word not in _GENERIC}
    marks.update(plain for plain in (_plain(a) for a in accounts) if len(plain) >= 4)
    return tuple(sorted(marks))


def _imitates(value: str, marks: Iterable[str]) -> bool:
    """Whether `value` spells a brand mark, letter for letter or with its vowels dropped."""
    plain = _plain(value)
    skeleton = _skeleton(plain)
    for mark in marks:
        mark_skeleton = _skeleton(mark)
        if mark in plain or (len(mark_skeleton) >= 4 and mark_skeleton in skeleton):
            return True
    return False


def _domain_is_brands(domain: str, domains: Iterable[str]) -> bool:
    domain = domain.lower().rstrip(".")
    return any(domain == own or domain.endswith("." + own) for own in (d.lower().strip(".") for d in domains))


def check_scam(mention: Post, *, brand_name: str, accounts: Iterable[str] = (),
               domains: Iterable[str] = ()) -> ScamCheck:
    """Decide whether `mention` poses as the brand named `brand_name` and baits its customers.

    `accounts` are the brand's own handles on the network (never flagged); `domains` the brand's own web domains
    (links there are not bait).
    """
    accounts = [a.lstrip("@") for a in accounts]
    if mention.author_handle.lstrip("@").casefold() in {a.casefold() for a in accounts}:
        return ScamCheck(False)
    marks = brand_marks(brand_name, accounts)
    domains = list(domains)
    posing: list[str] = []
    if _imitates(mention.author_handle, marks):
        posing.append(f"the handle @{mention.author_handle} imitates the brand's")
    if _BIDI.search(mention.author_name):
        posing.append("the display name hides its reading order with bidirectional controls")
    if _imitates(mention.author_name, marks) and _ROLES.search(_BIDI.sub("", mention.author_name)):
        posing.append("the display name claims to speak for the brand")
    off_site = [m.group(1) for m in _LINK.finditer(mention.text) if not _domain_is_brands(m.group(1), domains)]
    lookalike_sites = [d for d in off_site if _imitates(d.split(".")[0] if "." in d else d, marks)]
    if lookalike_sites:
        posing.append(f"it links to {lookalike_sites[0]}, which imitates the brand's name and is not its site")
    if not posing:
        return ScamCheck(False)
    baits: list[str] = []
    if _SECRET_ASK.search(mention.text):
        baits.append("it asks for a PIN, password or card details")
    if _BAIT.search(mention.text) and (off_site or _BIO_LINK.search(mention.text)):
        baits.append("it offers a refund, prize or claim behind a link off the brand's domains")
    if _MONEY_ASK.search(mention.text):
        baits.append("it asks for money or crypto up front")
    if not baits:
        return ScamCheck(False)
    return ScamCheck(True, tuple(posing + baits))


__all__ = ["Post", "ScamCheck", "brand_marks", "check_scam"]
