"""Measure a classifier's throughput, single-post latency and memory on realistic posts."""

from __future__ import annotations

import gc
import itertools
import resource
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.base import Classifier, Post
from models.data import benchmark_path, load_examples

#: The transformer options under which it runs every head the example config runs (categories from the encoder
#: besides sentiment, complaint, severity, irony and needs-a-reply): what `brandmon bench` measures.
EVERY_HEAD: Mapping[str, Any] = {"model_categories": True}

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
    #: Batched posts per CPU second of this process: steadier than wall time on a shared machine.
    batched_posts_per_cpu_s: float | None = None
    #: The lexicon model's batched posts/s on the same posts in the same session, so ratios compare across machines.
    lexicon_posts_per_s: float | None = None
    #: The lexicon model's posts per CPU second on the same posts: the ratio of CPU rates holds on a busy machine.
    lexicon_posts_per_cpu_s: float | None = None

    def as_dict(self) -> dict[str, object]:
        """Return the figures as JSON values."""
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}

    def format(self) -> str:
        """Return the figures as a few aligned lines."""
        extra = []
        if self.batched_posts_per_cpu_s is not None:
            extra.append(f"batched, CPU time     {self.batched_posts_per_cpu_s:.0f} posts per CPU second")
        if self.lexicon_posts_per_s is not None:
            ratio = self.batched_posts_per_s / self.lexicon_posts_per_s if self.lexicon_posts_per_s else 0.0
            cpu_ratio = ""
            if self.lexicon_posts_per_cpu_s and self.batched_posts_per_cpu_s is not None:
                cpu_ratio = f"; {self.batched_posts_per_cpu_s / self.lexicon_posts_per_cpu_s:.3f}x per CPU second"
            extra.append(
                f"lexicon, same posts   {self.lexicon_posts_per_s:.0f} posts/s (this model runs at {ratio:.3f}x"
                f"{cpu_ratio})"
            )
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
                *extra,
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
    lexicon_reference: bool = True,
) -> BenchResult:
    """Load a classifier with `build`, then time batched and one-post-at-a-time classification.

    With `lexicon_reference`, the lexicon model is then timed on the same batches (after the peak memory is read),
    so the ratio between the two says how fast this model is independently of the machine.
    """
    started = time.perf_counter()
    classifier = build()
    load_s = time.perf_counter() - started
    posts = [Post(text=t) for t in texts]
    for _ in range(warmup):
        classifier.classify(posts[:batch_size])
    gc.collect()
    started, cpu_started = time.perf_counter(), time.process_time()
    for start in range(0, len(posts), batch_size):
        classifier.classify(posts[start : start + batch_size])
    batched_s = time.perf_counter() - started
    batched_cpu_s = time.process_time() - cpu_started
    latencies = []
    for post in posts[:single_posts]:
        began = time.perf_counter()
        classifier.classify([post])
        latencies.append((time.perf_counter() - began) * 1000)
    peak = peak_rss_mib()
    lexicon_rate = lexicon_cpu_rate = None
    if lexicon_reference:
        from models.lexicon import LexiconClassifier

        if not isinstance(classifier, LexiconClassifier):
            lexicon_rate, lexicon_cpu_rate = _lexicon_rate(posts, batch_size)
    return BenchResult(
        model=classifier.describe(),
        load_s=load_s,
        batch_size=batch_size,
        batched_posts=len(posts),
        batched_posts_per_s=len(posts) / batched_s,
        single_posts=len(latencies),
        single_p50_ms=float(np.percentile(latencies, 50)),
        single_p99_ms=float(np.percentile(latencies, 99)),
        peak_rss_mib=peak,
        batched_posts_per_cpu_s=len(posts) / batched_cpu_s if batched_cpu_s > 0 else None,
        lexicon_posts_per_s=lexicon_rate,
        lexicon_posts_per_cpu_s=lexicon_cpu_rate,
    )


def _lexicon_rate(posts: Sequence[Post], batch_size: int) -> tuple[float, float | None]:
    """Return the lexicon model's batched posts/s and posts per CPU second over `posts` (one warm-up batch first)."""
    from models.lexicon import LexiconClassifier

    lexicon = LexiconClassifier()
    lexicon.classify(list(posts[:batch_size]))
    started, cpu_started = time.perf_counter(), time.process_time()
    for start in range(0, len(posts), batch_size):
        lexicon.classify(list(posts[start : start + batch_size]))
    cpu_s = time.process_time() - cpu_started
    return len(posts) / (time.perf_counter() - started), (len(posts) / cpu_s if cpu_s > 0 else None)


def mixed_texts(data_dir: Path, count: int, *, file: Path, english_share: float) -> list[str]:
    """Return `count` texts, `english_share` of them TweetEval test tweets and the rest from `file`, spread evenly."""
    if not 0.0 <= english_share <= 1.0:
        raise ValueError(f"english_share must be in [0, 1], got {english_share}")
    # A file shorter than its share is read again from the start.
    english = itertools.cycle(bench_texts(data_dir, count))
    others = itertools.cycle([e.text for e in load_examples(file)])
    out = []
    for index in range(count):
        take_english = int((index + 1) * english_share) > int(index * english_share)
        out.append(next(english) if take_english else next(others))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Run `python -m models.throughput`: `brandmon bench classify` for any registered classifier and options."""
    import argparse
    import json

    from models import load_classifier, parse_options
    from models.data import DEFAULT_DATA_DIR

    parser = argparse.ArgumentParser(description="Time a classifier batched and one post at a time, with peak RSS.")
    parser.add_argument("--kind", default="transformer", help="registry name (transformer, multilingual, lexicon)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a classifier option, as in the config's classifier.options (repeatable)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--single", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--file", type=Path, default=None, help="take non-English posts from this JSON Lines file")
    parser.add_argument("--english-share", type=float, default=0.0,
                        help="with --file: share of TweetEval (English) posts mixed in")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    options = parse_options(args.option)
    texts = (
        mixed_texts(args.data_dir, args.posts, file=args.file, english_share=args.english_share)
        if args.file is not None
        else bench_texts(args.data_dir, args.posts)
    )
    result = bench_classifier(lambda: load_classifier(args.kind, **options), texts, batch_size=args.batch_size,
                              single_posts=args.single)
    print(json.dumps(result.as_dict(), indent=2) if args.json else result.format())


if __name__ == "__main__":
    main()
