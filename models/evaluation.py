"""Score labelled posts with one or more classifiers and report the figures as a table or JSON."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from models.base import SENTIMENTS, Classifier, Post, Scores
from models.data import Example, benchmark_path, load_examples
from models.metrics import Figures, classification_figures

COMPLAINT_CLASSES = ("no", "yes")
SEVERITY_CLASSES = ("0", "1", "2", "3", "4")
#: The test sets `brandmon evaluate` reports when no file is given: (label, benchmark name).
BENCHMARK_SETS: tuple[tuple[str, str], ...] = (("tweeteval", "tweeteval"), ("complaints", "complaints"))


@dataclass(frozen=True, slots=True)
class ModelReport:
    """One classifier's figures per task on one data set."""

    model: str
    tasks: Mapping[str, Figures]
    seconds: float


def score_all(
    classifier: Classifier,
    examples: Sequence[Example],
    *,
    batch_size: int = 256,
    desc: str = "",
    progress: bool = True,
    detect_language: bool = False,
) -> list[Scores]:
    """Classify every example's text, in batches, with a progress bar.

    Each post is in the example's `lang`, English where the file gives none (the benchmarks are English; saying so
    measures the model rather than the language gate). With `detect_language` the model tells each language itself.
    """
    out: list[Scores] = []
    with tqdm(total=len(examples), desc=desc or classifier.name, unit="post", disable=not progress, leave=False) as bar:
        for start in range(0, len(examples), batch_size):
            chunk = [
                Post(text=e.text, language=None if detect_language else e.lang or "en")
                for e in examples[start : start + batch_size]
            ]
            out.extend(classifier.classify(chunk))
            bar.update(len(chunk))
    return out


def task_figures(examples: Sequence[Example], scores: Sequence[Scores]) -> dict[str, Figures]:
    """Compute figures for every task some of `examples` carry a label for."""
    figures: dict[str, Figures] = {}
    pairs = list(zip(examples, scores, strict=True))
    sentiment = [(e, s) for e, s in pairs if e.sentiment is not None]
    if sentiment:
        figures["sentiment"] = classification_figures(
            [int(e.sentiment or 0) for e, _ in sentiment],
            [SENTIMENTS.index(s.sentiment) for _, s in sentiment],
            SENTIMENTS,
            probs=np.array([[s.sentiment_probs[name] for name in SENTIMENTS] for _, s in sentiment]),
            abstained=[s.needs_human for _, s in sentiment],
        )
    complaint = [(e, s) for e, s in pairs if e.complaint is not None]
    if complaint:
        figures["complaint"] = classification_figures(
            [int(bool(e.complaint)) for e, _ in complaint],
            [int(s.complaint) for _, s in complaint],
            COMPLAINT_CLASSES,
            probs=np.array([[1.0 - s.complaint_prob, s.complaint_prob] for _, s in complaint]),
            abstained=[s.needs_human for _, s in complaint],
        )
    severity = [(e, s) for e, s in pairs if e.severity is not None]
    if severity:
        figures["severity"] = classification_figures(
            [int(e.severity or 0) for e, _ in severity], [s.severity for _, s in severity], SEVERITY_CLASSES
        )
    return figures


def evaluate_examples(
    classifiers: Iterable[Classifier], examples: Sequence[Example], *, label: str, progress: bool = True
) -> list[ModelReport]:
    """Score `examples` with each classifier and return its figures."""
    reports = []
    for classifier in classifiers:
        started = time.perf_counter()
        scores = score_all(classifier, examples, desc=f"{label}: {classifier.name}", progress=progress)
        seconds = time.perf_counter() - started
        reports.append(ModelReport(classifier.name, task_figures(examples, scores), seconds))
    return reports


def covers(classifier: Classifier, language: str) -> bool:
    """Return whether `classifier` scores posts in `language` (a model that lists no languages covers all)."""
    languages = getattr(classifier, "languages", None)
    return languages is None or language in languages


def evaluate_by_language(
    classifiers: Iterable[Classifier],
    examples: Sequence[Example],
    *,
    label: str,
    progress: bool = True,
    detect_language: bool = False,
) -> dict[str, list[ModelReport]]:
    """Score `examples` once per classifier; report the whole set and, when rows carry `lang`, each language.

    A classifier appears only for the languages it covers (and for the whole set only if it covers all of them), so
    an English-only model gets an English row and no other.
    """
    languages = sorted({e.lang for e in examples if e.lang})
    results: dict[str, list[ModelReport]] = {label: []}
    results.update({f"{label} [{lang}]": [] for lang in languages})
    for classifier in classifiers:
        started = time.perf_counter()
        scores = score_all(classifier, examples, desc=f"{label}: {classifier.name}", progress=progress,
                           detect_language=detect_language)
        seconds = time.perf_counter() - started
        if all(covers(classifier, lang) for lang in languages):
            results[label].append(ModelReport(classifier.name, task_figures(examples, scores), seconds))
        for lang in languages:
            if not covers(classifier, lang):
                continue
            rows = [i for i, e in enumerate(examples) if e.lang == lang]
            figures = task_figures([examples[i] for i in rows], [scores[i] for i in rows])
            share_s = seconds * len(rows) / len(scores)
            results[f"{label} [{lang}]"].append(ModelReport(classifier.name, figures, share_s))
    return results


def mean_over_languages(
    results: Mapping[str, Sequence[ModelReport]], task: str = "sentiment"
) -> dict[tuple[str, str], tuple[float, int]]:
    """Return (data set, model) -> (macro-F1 on `task` averaged over its per-language rows, how many languages)."""
    per: dict[tuple[str, str], list[float]] = {}
    for dataset, reports in results.items():
        name, bracket, _ = dataset.partition(" [")
        if not bracket:
            continue
        for report in reports:
            if task in report.tasks:
                per.setdefault((name, report.model), []).append(report.tasks[task].macro_f1)
    return {key: (float(np.mean(values)), len(values)) for key, values in per.items()}


def evaluate_benchmarks(
    classifiers: Sequence[Classifier],
    data_dir: Path,
    *,
    split: str = "test",
    limit: int | None = None,
    progress: bool = True,
) -> dict[str, list[ModelReport]]:
    """Evaluate every classifier on each benchmark's `split`."""
    results = {}
    for label, name in BENCHMARK_SETS:
        examples = load_examples(benchmark_path(data_dir, name, split), limit=limit)
        results[f"{label}-{split}"] = evaluate_examples(classifiers, examples, label=label, progress=progress)
    return results


def as_json(results: Mapping[str, Sequence[ModelReport]]) -> dict[str, object]:
    """Return the results as plain JSON values: data set -> list of models with their task figures."""
    return {
        "datasets": {
            dataset: [
                {
                    "model": report.model,
                    "seconds": round(report.seconds, 2),
                    "tasks": {task: fig.as_dict() for task, fig in report.tasks.items()},
                }
                for report in reports
            ]
            for dataset, reports in results.items()
        }
    }


def format_table(results: Mapping[str, Sequence[ModelReport]]) -> str:
    """Return the results as an aligned plain-text table, one row per data set, task and model."""
    header = ["data set", "task", "model", "n", "macro-R", "macro-F1", "acc", "ECE", "abstain", "per-class recall"]
    rows = [header]
    for dataset, reports in results.items():
        for task in _tasks(reports):
            for report in reports:
                fig = report.tasks.get(task)
                if fig is None:
                    continue
                rows.append(
                    [
                        dataset,
                        task,
                        report.model,
                        str(fig.n),
                        f"{fig.macro_recall:.3f}",
                        f"{fig.macro_f1:.3f}",
                        f"{fig.accuracy:.3f}",
                        "-" if fig.ece is None else f"{fig.ece:.3f}",
                        "-" if fig.abstain_rate is None else f"{fig.abstain_rate:.1%}",
                        " ".join(f"{k} {v:.3f}" for k, v in fig.per_class_recall.items()),
                    ]
                )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _tasks(reports: Sequence[ModelReport]) -> list[str]:
    seen: dict[str, None] = {}
    for report in reports:
        seen.update(dict.fromkeys(report.tasks))
    return list(seen)


def main(argv: Sequence[str] | None = None) -> None:
    """Run `python -m models.evaluation`: `brandmon evaluate` for any registered classifier and its options."""
    import argparse
    import json

    from models import load_classifier, parse_options
    from models.data import DEFAULT_DATA_DIR

    parser = argparse.ArgumentParser(description="Evaluate a classifier on the benchmarks or labelled files.")
    parser.add_argument("files", nargs="*", type=Path, help="JSON Lines files (rows with `lang` get per-language rows)")
    parser.add_argument("--kind", default="transformer", help="registry name (transformer, multilingual, lexicon)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a classifier option, as in the config's classifier.options (repeatable)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--split", choices=("val", "test"), default="test")
    parser.add_argument("--baseline", action="store_true", help="also report the VADER lexicon model")
    parser.add_argument("--detect-language", action="store_true", help="let the model tell each post's language")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    classifiers = [load_classifier(args.kind, **parse_options(args.option))]
    if args.baseline:
        classifiers.append(load_classifier("lexicon"))
    progress = not args.json
    results: dict[str, list[ModelReport]] = {}
    if not args.files:
        results = evaluate_benchmarks(classifiers, args.data_dir, split=args.split, limit=args.limit,
                                      progress=progress)
    for path in args.files:
        results.update(evaluate_by_language(classifiers, load_examples(path, limit=args.limit), label=path.name,
                                            progress=progress, detect_language=args.detect_language))
    means = mean_over_languages(results)
    if args.json:
        averaged = [{"dataset": d, "model": m, "macro_f1": round(v, 4), "languages": n}
                    for (d, m), (v, n) in means.items()]
        print(json.dumps({**as_json(results), "sentiment_macro_f1_mean_over_languages": averaged}, indent=2))
        return
    print(f"{classifiers[0].describe()}\n")
    print(format_table(results))
    for (dataset, model), (value, languages) in means.items():
        print(f"{dataset}: sentiment macro-F1 averaged over {languages} languages, {model}: {value:.3f}")


if __name__ == "__main__":
    main()
