"""Keyword and phrase rules that put a category and a score on a post's urgency."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Built-in phrases per urgency category; brands add their own on top in the config.
DEFAULT_KEYWORDS: Mapping[str, Sequence[str]] = {
    "safety": (
        "fire", "smoke", "burn", "burned", "explode", "exploded", "injury", "injured", "hospital",
        "choking", "allergic", "poison", "unsafe", "dangerous", "overheating", "sparks",
        "caught fire", "electric shock", "food poisoning", "allergic reaction", "fire hazard",
        # something in the food that should not be there (the conversations' "lovely piece of plastic in my bowl")
        "piece of plastic", "piece of glass", "piece of metal", "shard of glass", "plastic in my", "glass in my",
        "metal in my", "hair in my", "foreign object",
    ),
    "legal": (
        "lawyer", "lawsuit", "sue", "suing", "legal action", "attorney", "gdpr", "data breach",
        "small claims", "ombudsman", "trading standards", "regulator",
        "class action", "fraud", "discrimination", "report you to",
    ),
    "outage": (
        "down", "outage", "not working", "no signal", "no service", "can't log in", "cannot log in",
        "app crashes", "app keeps crashing", "site is down", "offline", "502", "503", "error 500",
        "won't load", "not loading", "no internet", "service down",
    ),
    "churn_risk": (
        "cancel", "cancelling", "canceling", "switching to", "leaving", "done with", "never again",
        "close my account", "unsubscribe", "moving to",
        # "last time" alone is mostly a story ("last time I switched it took 4 days"); these say goodbye
        "this is the last time", "that's the last time", "that is the last time", "this was the last time",
        "last time i buy", "last time i use", "last time i fly", "last time i order", "last time i shop",
        "last time i ever",
        "taking my business elsewhere", "switching provider",
    ),
    "billing": (
        "charged twice", "double charged", "overcharged", "refund", "invoice", "bill", "billing",
        "charge", "charged", "payment", "money back",
    ),
    "delivery": (
        "delivery", "delivered", "parcel", "package", "courier", "shipping", "never arrived",
        "tracking", "late order", "order hasn't arrived",
        "not delivered", "still waiting for my order", "lost package", "missing item",
    ),
}

#: Idioms that hold a built-in phrase but not its category: "calm down", "let me down" and a speed test's
#: "900 down" are no outage, "no bill shock" no billing, "my fire stick" no safety. Their spans are blanked before
#: the built-in lists are matched (a brand's own phrases are matched as written). Taken from the contexts of those
#: phrases in ../shared/data (complaints, the conversations' customer tweets, TweetEval train: "sat down", "1st
#: down", "calm down", "let down", "hands down", "Fire TV" ...).
NOT_THE_CATEGORY: Mapping[str, str] = {
    "outage": (
        r"(?:calm(?:ing)?|settle|cool|slow(?:ing)?|sat|sit(?:s|ting)?|step(?:s|ping|ped)?|back(?:ing)?|hands|"
        r"upside|count(?:ing)?|wind(?:s|ing)?|turn(?:s|ed|ing)?|put(?:s|ting)?|writ(?:e|ing)|lay|look(?:ing)?|"
        r"head|narrow(?:ed)?|lock(?:s|ed|ing)?|(?:let|letting|lets)(?:\s+(?:me|us|you|him|her|them|everyone))?|"
        r"\d+(?:st|nd|rd|th)|\d+(?:\.\d+)?\s*(?:mbps|mb/s|mbit|megs?|gbps)?)\s+down"
        r"|down\s+(?:the\s+(?:road|street|line|hall)|to\s+earth|under|payment)"
    ),
    # money that was not taken: "no bill shock", "no hidden fees", "at no charge" ("no refund" still is billing)
    "billing": r"no\s+(?:bill\s+shock|surprise\s+(?:bills?|charges?)|hidden\s+(?:charges?|fees)|extra\s+charges?)"
               r"|at\s+no\s+(?:extra\s+)?charge|free\s+of\s+charge",
    # Amazon's Fire devices and figures of speech ("my fire stick", "burned out", "fire up")
    "safety": (
        r"fire\s*(?:tv|stick|phone|tablet|hd)s?|kindle\s+fire|fire\s+(?:up|away)|under\s+fire|burn(?:ed|t)?\s+out"
    ),
}

#: How urgent each category is on its own, before sentiment and severity add to it.
CATEGORY_WEIGHT: Mapping[str, float] = {
    "safety": 1.0,
    "legal": 0.9,
    "outage": 0.8,
    "churn_risk": 0.7,
    "billing": 0.6,
    "delivery": 0.5,
    "account_access": 0.6,
    "product_defect": 0.5,
    "other": 0.3,
    "none": 0.0,
}


@dataclass(frozen=True, slots=True)
class UrgencyMatch:
    """The category found in a post and the phrases that put it there."""

    category: str
    phrases: tuple[str, ...]


class UrgencyRules:
    """Match a post against built-in and brand-specific phrases, one compiled regex per category."""

    def __init__(
        self,
        extra: Mapping[str, Sequence[str]] | None = None,
        *,
        per_brand: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    ) -> None:
        self._global = self._compile(_merge(DEFAULT_KEYWORDS, extra or {}))
        # The brand's own phrases alone: a model that reads categories from the text uses only these, as overrides.
        self._overrides = self._compile(extra or {})
        self._per_brand = {
            brand.casefold(): self._compile(keywords) for brand, keywords in (per_brand or {}).items()
        }
        self._idioms = {category: re.compile(rf"(?<!\w)(?:{pattern})(?!\w)", re.IGNORECASE)
                        for category, pattern in NOT_THE_CATEGORY.items()}

    @staticmethod
    def _compile(keywords: Mapping[str, Sequence[str]]) -> dict[str, re.Pattern[str]]:
        compiled = {}
        for category, phrases in keywords.items():
            if category not in CATEGORY_WEIGHT:
                raise ValueError(f"unknown urgency category {category!r}")
            cleaned = sorted({p.strip().casefold() for p in phrases if p.strip()}, key=len, reverse=True)
            if cleaned:
                alternatives = "|".join(re.escape(p) for p in cleaned)
                compiled[category] = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
        return compiled

    def match(self, text: str, brand: str | None = None, *, builtin: bool = True) -> UrgencyMatch:
        """Return the most urgent category whose phrases appear in `text`, or "none".

        With `builtin=False` only the configured phrases (global extras and the brand's own) count, not
        `DEFAULT_KEYWORDS`: that is how a model that scores categories itself applies keywords as overrides.
        """
        # Phones type curly apostrophes; the phrase lists use straight ones.
        text = text.replace("\u2019", "'").replace("\u2018", "'")
        tables = [self._global if builtin else self._overrides]
        if brand and brand.casefold() in self._per_brand:
            tables.insert(0, self._per_brand[brand.casefold()])
        best: UrgencyMatch | None = None
        for table in tables:
            for category, pattern in table.items():
                idioms = self._idioms.get(category) if table is self._global else None  # built-in lists only
                searched = text if idioms is None else idioms.sub(lambda m: " " * len(m.group(0)), text)
                found = tuple(dict.fromkeys(m.group(0).casefold() for m in pattern.finditer(searched)))
                if not found:
                    continue
                if best is None or CATEGORY_WEIGHT[category] > CATEGORY_WEIGHT[best.category]:
                    best = UrgencyMatch(category, found)
        return best or UrgencyMatch("none", ())


def urgency_score(
    *, category: str, negative_prob: float, complaint_prob: float, severity: int, weight: float | None = None
) -> float:
    """Combine category weight, negativity, complaint probability and severity into a 0..1 score.

    `weight` overrides the built-in weight of `category` (a brand's own category brings its own).
    """
    weight = CATEGORY_WEIGHT.get(category, 0.0) if weight is None else weight
    base = 0.45 * weight + 0.25 * negative_prob + 0.15 * complaint_prob + 0.15 * (severity / 4)
    return round(min(1.0, max(0.0, base)), 4)


def _merge(
    left: Mapping[str, Sequence[str]], right: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    merged = {category: list(phrases) for category, phrases in left.items()}
    for category, phrases in right.items():
        merged.setdefault(category, []).extend(phrases)
    return merged
