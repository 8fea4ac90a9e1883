"""Measure a classifier's throughput, single-post latency and memory on realistic posts."""

from __future__ import annotations

import gc
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from models.base import Classifier, Post
from models.data import benchmark_path, load_examples

#: Posts to bench with when the shared data is absent: brand mentions of the lengths tweets have.
SAMPLE_POSTS: tuple[str, ...] = (
    "@acme my order never arrived and nobody answers the phone, this is the third time",
    "Loving the new update from @acme, the app finally feels fast again!",
    "@acme is the store on Main Street open on Sunday?",
    "I've been charged twice for the same subscription this month. Refund please @acme",
    "The charger from @acme started smoking last night, this is dangerous",
    "Thanks @acme support, sorted in five minutes. Great service as always",
    "@acme your site is down again, can't log in to pay my bill",
    "If this isn't fixed by Friday I'm cancelling and switching to another provider",
    "Does anyone know whether @acme ships to Canada?",
    "meh, the new menu at @acme is fine I guess",
)


@dataclass(frozen=True, slots=True)
class BenchResult:
    """Speed and memory of one classifier on this machine."""

    model: str
    load_s: float
    batch_size: int
    batched_posts: int
    batched_posts_per_s: float
    single_posts: int
    single_p50_ms: float
    single_p99_ms: float
    peak_rss_mib: float

    def as_dict(self) -> dict[str, object]:
        """Return the figures as JSON values."""
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}

    def format(self) -> str:
        """Return the figures as a few aligned lines."""
        return "\n".join(
            [
                f"model                 {self.model}",
                f"load                  {self.load_s:.2f} s",
                f"batched ({self.batch_size}/batch)     {self.batched_posts_per_s:.0f} posts/s"
                f" over {self.batched_posts} posts",
                (
                    f"single-post latency   p50 {self.single_p50_ms:.1f} ms, p99 {self.single_p99_ms:.1f} ms"
                    f" over {self.single_posts} posts"
                ),
                f"peak RSS              {self.peak_rss_mib:.0f} MiB",
            ]
        )


def bench_texts(data_dir: Path | None, count: int) -> list[str]:
    """Return `count` post texts: TweetEval test tweets when the data is there, else the built-in samples."""
    if data_dir is not None:
        path = benchmark_path(data_dir, "tweeteval", "test")
        if path.is_file():
            return [e.text for e in load_examples(path, limit=count)]
    return [SAMPLE_POSTS[i % len(SAMPLE_POSTS)] for i in range(count)]


def peak_rss_mib() -> float:
    """Return this process's peak resident memory so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def bench_classifier(
    build: Callable[[], Classifier],
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    single_posts: int = 200,
    warmup: int = 2,
) -> BenchResult:
    """Load a classifier with `build`, then time batched and one-post-at-a-time classification."""
    started = time.perf_counter()
    classifier = build()
    load_s = time.perf_counter() - started
    posts = [Post(text=t) for t in texts]
    for _ in range(warmup):
        classifier.classify(posts[:batch_size])
    gc.collect()
    started = time.perf_counter()
    for start in range(0, len(posts), batch_size):
        classifier.classify(posts[start : start + batch_size])
    batched_s = time.perf_counter() - started
    latencies = []
    for post in posts[:single_posts]:
        began = time.perf_counter()
        classifier.classify([post])
        latencies.append((time.perf_counter() - began) * 1000)
    return BenchResult(
        model=classifier.name,
        load_s=load_s,
        batch_size=batch_size,
        batched_posts=len(posts),
        batched_posts_per_s=len(posts) / batched_s,
        single_posts=len(latencies),
        single_p50_ms=float(np.percentile(latencies, 50)),
        single_p99_ms=float(np.percentile(latencies, 99)),
        peak_rss_mib=peak_rss_mib(),
    )
