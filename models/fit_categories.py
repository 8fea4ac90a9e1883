"""Fit the learned category heads on real complaints labelled by reading, and print their figures.

    python -m models.fit_categories [--kind transformer|multilingual] [--data-dir ../shared/data]
                                    [--output FILE] [--c 30] [--report-test]

The labels are `models/checks/categories-complaints-{train,val,test}.jsonl`: tweets of the complaints set
(../shared/data/complaints, by id only; their text stays there), each given one built-in category or `none` by
reading it (train: the first 500 complaints of the train split; val and test: every post of those splits). The head
is a logistic regression (class-balanced, `--c` chosen on val) on the unit pooled vectors of the train complaints.
Val figures are printed and recorded in the file; `--report-test` adds the test split, to be read once.

Figures are for the whole classifier with categories from the encoder: a post that is no complaint gets `none`
unless a prototype places it, so the figures include the complaint head's mistakes. The keyword rules run on the
same posts for comparison. With `--kind multilingual` the head is e5's: the posts are English, so it is measured on
e5's vectors of the split's complaints (by their labels), beside e5's prototypes.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.base import URGENCY_CATEGORIES, Post
from models.category_head import (
    BUILTIN_CATEGORY_HEAD,
    BUILTIN_ML_CATEGORY_HEAD,
    CategoryHeadMeta,
    load_category_head,
    save_category_head,
)
from models.check_sets import CHECKS, CheckFigures, figures
from models.data import DEFAULT_DATA_DIR

VERSION = "v1"


def labelled(split: str, data_dir: Path) -> tuple[list[str], list[str], list[bool]]:
    """Return the texts, category labels and complaint flags of a labelled split, texts read from the data set."""
    rows = [json.loads(line) for line in (CHECKS / f"categories-complaints-{split}.jsonl").read_text(
        encoding="utf-8").splitlines() if line.strip()]
    path = data_dir / "complaints" / f"complaints-{split}.jsonl"
    data = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            data[str(record["id"])] = record
    missing = [r["id"] for r in rows if r["id"] not in data]
    if missing:
        raise SystemExit(f"{path}: {len(missing)} labelled ids are not in the data set (first: {missing[0]})")
    return ([data[r["id"]]["text"] for r in rows], [r["category"] for r in rows],
            [bool(data[r["id"]]["complaint"]) for r in rows])


def fit(vectors: torch.Tensor, labels: Sequence[str], *, c: float) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Fit a class-balanced logistic regression on unit `vectors`; return weight, bias and the category names."""
    from sklearn.linear_model import LogisticRegression

    keep = [i for i, label in enumerate(labels) if label != "none"]
    names = [n for n in URGENCY_CATEGORIES if any(labels[i] == n for i in keep)]
    x = torch.nn.functional.normalize(vectors[keep].float(), dim=-1).numpy()
    y = np.array([names.index(labels[i]) for i in keep])
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(x, y)
    return torch.tensor(model.coef_, dtype=torch.float32), torch.tensor(model.intercept_, dtype=torch.float32), names


def _classifier(kind: str, *, head: Path | None, model_categories: bool) -> Any:
    """Return a classifier of `kind`: categories from keywords, from prototypes (`head` None) or with `head`."""
    from models import load_classifier

    options: dict[str, Any] = {"model_categories": model_categories}
    if model_categories:
        if head is None:
            options["learned_categories"] = False
        else:
            options["ml_category_head" if kind == "multilingual" else "category_head"] = str(head)
    return load_classifier(kind, **options)


def _placed(classifier: Any, texts: Sequence[str]) -> list[str]:
    scores = classifier.classify([Post(text=t, language="en") for t in texts])
    return [s.category or s.urgency_category for s in scores]


def measure(kind: str, head: Path, split: str, data_dir: Path) -> dict[str, CheckFigures]:
    """Return the figures of the classifier with `head`, and of the keyword rules, on a labelled split."""
    texts, labels, complaint = labelled(split, data_dir)
    classes = sorted(set(labels))
    on = [i for i, flag in enumerate(complaint) if flag]
    out = {}
    if kind == "multilingual":
        ml = _classifier(kind, head=head, model_categories=True)
        pooled = ml.embed([texts[i] for i in on])
        learned = load_category_head(head)
        mask = torch.ones(pooled.shape[0], 1)
        probs = learned.score(pooled[:, None, :], mask, pooled).probs
        picked = [learned.names[int(p.argmax())] for p in probs]
        out["e5 head, complaints"] = figures([labels[i] for i in on], picked, sorted({labels[i] for i in on}))
        return out
    for name, classifier in (("learned head", _classifier(kind, head=head, model_categories=True)),
                             ("prototypes only", _classifier(kind, head=None, model_categories=True)),
                             ("keyword rules", _classifier(kind, head=None, model_categories=False))):
        placed = _placed(classifier, texts)
        out[f"{name}, all posts"] = figures(labels, placed, classes)
        out[f"{name}, complaints"] = figures([labels[i] for i in on], [placed[i] for i in on],
                                             sorted({labels[i] for i in on}))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Run `python -m models.fit_categories`."""
    parser = argparse.ArgumentParser(description="Fit the learned category head on labelled real complaints.")
    parser.add_argument("--kind", choices=("transformer", "multilingual"), default="transformer")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--c", type=float, default=30.0, help="inverse regularisation (chosen on val: 30)")
    parser.add_argument("--report-test", action="store_true", help="also print the test split's figures")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    output = args.output or (BUILTIN_ML_CATEGORY_HEAD if args.kind == "multilingual" else BUILTIN_CATEGORY_HEAD)
    texts, labels, _ = labelled("train", args.data_dir)
    embedder = _classifier(args.kind, head=None, model_categories=False)
    weight, bias, names = fit(embedder.embed(texts), labels, c=args.c)
    meta_of = embedder.e5_meta if args.kind == "multilingual" else embedder.heads_meta
    meta = CategoryHeadMeta(version=VERSION, encoder=meta_of.encoder, hidden_size=int(weight.shape[1]), names=names,
                            training={"c": args.c, "train_complaints": sum(1 for x in labels if x != "none"),
                                      "labels": "models/checks/categories-complaints-train.jsonl"})
    save_category_head(output, weight, bias, meta)
    splits = ["val", "test"] if args.report_test else ["val"]
    report = {split: measure(args.kind, output, split, args.data_dir) for split in splits}
    meta.training["val"] = {name: fig.macro_f1 for name, fig in report["val"].items()}
    save_category_head(output, weight, bias, meta)
    print(f"wrote {output} ({len(names)} categories, {meta.training['train_complaints']} train complaints)")
    for split, rows in report.items():
        for name, fig in rows.items():
            print(f"  {split:4s} {name:28s} {fig.line()}")


if __name__ == "__main__":
    main()
