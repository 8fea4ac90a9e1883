"""Detect a post's language offline, preferring what the network reported."""

from __future__ import annotations

import re
from functools import lru_cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

#: Languages the detector chooses among; short social posts confuse it when every language is allowed.
CANDIDATE_LANGUAGES = (
    "en", "es", "fr", "de", "it", "pt", "nl", "sv", "da", "no", "fi", "pl", "tr", "ru", "uk",
    "ar", "he", "hi", "ja", "ko", "zh", "id", "ms", "vi", "th",
)
#: Below this many letters the detector is no better than a guess, so the post is taken as undetermined.
MIN_LETTERS = 12
MIN_CONFIDENCE = 0.80

_MENTION_OR_URL = re.compile(r"(?:https?://\S+|[@#]\w+)")
#: X and Reddit codes that mean "no language" rather than a real one.
_NO_LANGUAGE = {"und", "qme", "qst", "qam", "qct", "zxx", "art"}


@lru_cache(maxsize=1)
def _identifier() -> LanguageIdentifier:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(CANDIDATE_LANGUAGES))
    return identifier


def detect_language(text: str, reported: str | None = None) -> str | None:
    """Return an ISO 639-1 code for `text`, or None when it cannot be told."""
    if reported and reported.lower() not in _NO_LANGUAGE:
        return reported.lower().split("-")[0]
    stripped = _MENTION_OR_URL.sub(" ", text)
    letters = sum(ch.isalpha() for ch in stripped)
    cjk = sum("\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" for ch in stripped)
    if letters < MIN_LETTERS and cjk < 2:
        return None
    language, confidence = _identifier().classify(stripped)
    return str(language) if confidence >= MIN_CONFIDENCE else None


#: Below the usual confidence, a best guess of another language at this confidence still counts for
#: `guess_language` ("quiero cancelar mi contrato" is es at 0.55).
GUESS_CONFIDENCE = 0.5


def guess_language(text: str, reported: str | None = None) -> str | None:
    """Return `detect_language`'s answer or, when it cannot tell, a confident-enough guess of a non-English language.

    For routing a post to a multilingual model: a short English post ("lol ok thx") still comes back None and stays
    with the English model, while a short post that is most likely not English does not.
    """
    language = detect_language(text, reported)
    if language is not None:
        return language
    stripped = _MENTION_OR_URL.sub(" ", text)
    if sum(ch.isalpha() for ch in stripped) < MIN_LETTERS:
        return None
    guess, confidence = _identifier().classify(stripped)
    return str(guess) if guess != "en" and confidence >= GUESS_CONFIDENCE else None
