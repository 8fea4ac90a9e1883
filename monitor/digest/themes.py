"""Complaint themes: cluster the week's complaints, name each cluster by its key terms, count last week's.

Posts are embedded (MiniLM sentence embeddings through `models.embed` joined with TF-IDF + LSA word vectors,
or the word vectors alone when the encoder is not installed or not wanted), grouped by Ward agglomerative
clustering, and each group is named by its class-based TF-IDF terms: words that many of its posts use and few
posts elsewhere do. Last week's complaints are assigned to the nearest theme when at least half as close to it
as its least typical post, to show a trend.

Themes count cases, not posts: a customer's three posts about one thing are one case (README, "Cases"), so
given each post's case the posts of one case are embedded as one text and count once; a theme says how many
cases and how many distinct customers it holds.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer, TfidfVectorizer
from sklearn.preprocessing import normalize

from monitor.digest.data import PostRecord

log = logging.getLogger(__name__)

#: texts -> unit-length row vectors, one per text.
Embedder = Callable[[Sequence[str]], np.ndarray]
_URL = re.compile(r"https?://\S+|\b[\w-]+\.(?:com|co\.uk|example|org|net)\S*", re.IGNORECASE)
_RETWEET = re.compile(r"^\s*RT @\w+:\s*")
_HANDLE = re.compile(r"(?:^|(?<=\s))(?:@|u/)\w+")
#: Words of three letters or more; contractions ("isn't", "dad's") split on the apostrophe and mostly drop out.
_TOKEN = r"(?u)\b[^\W\d_]{3,}\b"
_FILLER = {"just", "im", "i'm", "ive", "i've", "don't", "dont", "can't", "cant", "it's", "got", "get", "getting",
           "still", "now", "today", "yesterday", "anyone", "else", "really", "lol", "amp", "rt", "thanks", "thank",
           "please", "don", "hi", "hey", "going", "know", "does", "did", "like", "say", "says", "said", "one", "way",
           "day", "days", "week", "weeks", "month", "months", "time", "times", "hour", "hours", "twice", "isn", "doesn",
           "didn", "won", "wasn", "aren", "haven", "couldn", "wouldn", "shouldn", "yes", "want", "need", "tried",
           "new", "old", "make", "made", "let", "lot", "ago", "end", "back", "same", "thing", "people", "someone"}


@dataclass(frozen=True, slots=True)
class Theme:
    """A group of this week's complaints: its key terms, its posts, last week's count and examples."""

    name: str
    terms: tuple[str, ...]
    mention_ids: tuple[int, ...]
    #: Last week's complaint cases closest to this theme; None when nothing was stored for last week.
    previous: int | None
    examples: tuple[PostRecord, ...]
    negative_share: float | None
    top_category: str | None
    #: This week's complaint cases in the theme (a post outside any case counts as one) and their customers.
    cases: int = 0
    customers: int = 0

    @property
    def size(self) -> int:
        """Return how many of this week's complaint cases fall in the theme."""
        return self.cases or len(self.mention_ids)

    @property
    def posts(self) -> int:
        """Return how many of this week's complaint posts fall in the theme."""
        return len(self.mention_ids)


def clean(text: str) -> str:
    """Strip what says nothing about a theme: the retweet prefix, links, @handles, hash signs."""
    text = _RETWEET.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _HANDLE.sub(" ", text)
    return text.replace("#", " ")


def stop_words(brand_words: Sequence[str]) -> list[str]:
    """Return English stop words, filler words and the brand's own names (which every post contains)."""
    words = set(ENGLISH_STOP_WORDS) | _FILLER
    for name in brand_words:
        parts = re.findall(r"\w+", name.lower())
        words.update(parts)
        words.add("".join(parts))
    return sorted(words)


def tfidf_embedder(*, stop: Sequence[str]) -> Embedder:
    """Return an embedder made of TF-IDF (words and word pairs) reduced by LSA, fitted on what it is given."""

    def embed(texts: Sequence[str]) -> np.ndarray:
        vectorizer = TfidfVectorizer(stop_words=list(stop), ngram_range=(1, 2), sublinear_tf=True,
                                     token_pattern=_TOKEN, min_df=1)
        try:
            matrix = vectorizer.fit_transform(texts)
        except ValueError:  # nothing but stop words
            return np.zeros((len(texts), 1))
        dims = min(50, matrix.shape[1] - 1, len(texts) - 1)
        if dims >= 2:
            return normalize(TruncatedSVD(dims, random_state=0).fit_transform(matrix))
        return normalize(matrix.toarray())

    return embed


def minilm_embedder(*, stop: Sequence[str], word_weight: float = 0.7) -> Embedder:
    """Return MiniLM sentence embeddings joined with weighted TF-IDF + LSA word vectors (torch via `models`).

    Meaning alone groups "no signal" with "is it down"; the word vectors keep posts about one named thing
    (a product, a fee) together, so the groups read as themes.
    """
    from models.embed import embed_texts

    words = tfidf_embedder(stop=stop)

    def embed(texts: Sequence[str]) -> np.ndarray:
        return normalize(np.hstack([embed_texts(texts), word_weight * words(texts)]))

    return embed


def build_embedder(kind: str, *, stop: Sequence[str]) -> tuple[Embedder, str]:
    """Return the embedder for `kind` ("minilm" or "tfidf") and the method actually used."""
    if kind == "minilm":
        try:
            return minilm_embedder(stop=stop), "MiniLM sentence embeddings + TF-IDF words, Ward clustering"
        except ImportError as exc:
            log.warning("digest themes: MiniLM unavailable (%s); grouping by TF-IDF words only", exc)
    elif kind != "tfidf":
        raise ValueError(f"unknown theme embedder {kind!r}; use 'minilm' or 'tfidf'")
    return tfidf_embedder(stop=stop), "TF-IDF words + LSA, Ward clustering"


def theme_count(n: int, *, max_themes: int) -> int:
    """Return how many groups to make of `n` complaints: about sqrt(n/2), at least 1, at most `max_themes`."""
    if n <= 0:
        return 0
    return max(1, min(max_themes, round(math.sqrt(n / 2)), n))


def key_terms(texts: Sequence[str], labels: np.ndarray, *, stop: Sequence[str], top: int = 3) -> list[list[str]]:
    """Name each label by class-based TF-IDF over the share of its posts that use each word or word pair."""
    groups = sorted(set(labels.tolist()))
    try:
        counts = CountVectorizer(stop_words=list(stop), ngram_range=(1, 2), token_pattern=_TOKEN, binary=True)
        matrix = counts.fit_transform(texts)
    except ValueError:
        return [[] for _ in groups]
    vocab = np.array(counts.get_feature_names_out())
    per_group = np.vstack([np.asarray(matrix[labels == g].sum(axis=0)).ravel() for g in groups]).astype(float)
    sizes = np.array([(labels == g).sum() for g in groups], dtype=float)[:, None]
    share = per_group / sizes
    idf = np.log1p(len(texts) / np.maximum(per_group.sum(axis=0), 1.0))
    scores = share * idf * (per_group >= np.minimum(2, sizes))  # a theme's name is used by two of its posts
    names = []
    for row in scores:
        chosen: list[str] = []
        for index in np.argsort(-row, kind="stable"):
            if row[index] <= 0 or len(chosen) == top:
                break
            term = str(vocab[index])
            if any(term in other or other in term for other in chosen):
                continue
            chosen.append(term)
        names.append(chosen)
    return names


def units(posts: Sequence[PostRecord], case_of: Mapping[int, int] | None) -> list[list[PostRecord]]:
    """Group posts by their case (`case_of`: mention id -> case id), in order; a post outside a case is alone."""
    groups: dict[tuple[str, int], list[PostRecord]] = {}
    for post in posts:
        case_id = (case_of or {}).get(post.mention_id)
        groups.setdefault(("case", case_id) if case_id is not None else ("post", post.mention_id), []).append(post)
    return list(groups.values())


def find_themes(
    current: Sequence[PostRecord],
    previous: Sequence[PostRecord] | None,
    *,
    embedder: Embedder,
    stop: Sequence[str],
    max_themes: int = 6,
    examples: int = 3,
    case_of: Mapping[int, int] | None = None,
) -> list[Theme]:
    """Group this week's complaint cases into themes, largest first; `previous` None means no data last week."""
    if not current:
        return []
    here_units, prior_units = units(current, case_of), units(previous or [], case_of)
    texts = [" ".join(clean(post.text) for post in unit) for unit in here_units]
    vectors = np.asarray(embedder(texts + [" ".join(clean(p.text) for p in unit) for unit in prior_units]),
                         dtype=float)
    here, there = vectors[: len(here_units)], vectors[len(here_units):]
    k = theme_count(len(here_units), max_themes=max_themes)
    labels = (np.zeros(len(here_units), dtype=int) if k == 1
              else AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(here))
    names = key_terms(texts, labels, stop=stop)
    centroids = normalize(np.vstack([here[labels == g].mean(axis=0) for g in range(k)]))
    previous_counts = _assign(there, centroids, here, labels) if previous is not None else None
    themes = []
    for group in range(k):
        grouped = [unit for unit, label in zip(here_units, labels, strict=True) if label == group]
        members = [post for unit in grouped for post in unit]
        closeness = here[labels == group] @ centroids[group]
        order = np.argsort(-closeness, kind="stable")
        picked: list[PostRecord] = []
        seen: set[str] = set()
        for index in order:
            first = grouped[index][0]
            key = " ".join(clean(first.text).lower().split())
            if key not in seen:
                seen.add(key)
                picked.append(first)
            if len(picked) == examples:
                break
        rated = [post for post in members if post.sentiment is not None]
        categories = Counter(p.shown_category for p in members if p.shown_category not in (None, "none"))
        terms = tuple(names[group])
        themes.append(
            Theme(
                name=", ".join(terms) if terms else "(no shared words)",
                terms=terms,
                mention_ids=tuple(post.mention_id for post in members),
                previous=None if previous_counts is None else previous_counts[group],
                examples=tuple(picked),
                negative_share=(sum(p.sentiment == "negative" for p in rated) / len(rated)) if rated else None,
                top_category=categories.most_common(1)[0][0] if categories else None,
                cases=len(grouped),
                customers=len({(p.network, p.author_handle.lower()) for p in members}),
            )
        )
    return sorted(themes, key=lambda theme: (-theme.size, theme.name))


def _assign(points: np.ndarray, centroids: np.ndarray, members: np.ndarray, labels: np.ndarray) -> list[int]:
    """Count points nearest each centroid that are at least half as close to it as its least typical post."""
    counts = [0] * len(centroids)
    if len(points) == 0:
        return counts
    floors = [0.5 * float(np.min(members[labels == g] @ centroids[g])) for g in range(len(centroids))]
    similarity = points @ centroids.T
    for row in similarity:
        best = int(np.argmax(row))
        if row[best] >= floors[best]:
            counts[best] += 1
    return counts
