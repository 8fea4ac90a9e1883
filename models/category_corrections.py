"""A brand's categories learned from the team's corrections (`brandmon train --corrections`).

A responder who changes a post's urgency category teaches the brand's category head (`models.categories`): the
post becomes an exemplar of the category it was given, on the same encoder embeddings as the category's
description and configured examples. A post moved to "none" or "other" counts as a negative for the category the
model had picked: posts close to it lose that category. (A post moved from one category to another is an exemplar
of the new one only: as negatives, such posts took the right category from posts they resembled.) Corrections
that left the category as the model gave it teach nothing, but they are checked like the others.

The held-out corrections (the same seeded split as the sentiment and complaint heads) are scored through the whole
classifier with and without what was learned; it is kept only when the category macro-F1 is no lower. Kept
feedback is saved as `<classifier.data_dir>/heads/<brand>.categories.json` beside the brand's heads and added to
the brand's categories when the classifier is built (`monitor.pipeline.learned_options`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models import ModelUnavailable
from models.base import Post, Scores
from models.categories import CategoryFeedback
from models.check_sets import figures
from models.corrections import MIN_HELD_OUT, Correction, brand_heads_file, split_held_out

if TYPE_CHECKING:
    from models.transformer import TransformerClassifier

FORMAT = "brandmon-brand-categories"
#: Labels that mean "in no category": "other" is a complaint in none of them, which only the complaint head tells.
NO_CATEGORY = frozenset({"none", "other"})
#: A brand needs at least this many category corrections outside the held-out ones to learn from.
MIN_CATEGORY_CORRECTIONS = 3


def brand_categories_file(data_dir: str | Path, brand: str) -> Path:
    """Return where the categories learned from `brand`'s corrections live under `data_dir`."""
    heads = brand_heads_file(data_dir, brand)
    return heads.with_name(heads.name.removesuffix(".safetensors") + ".categories.json")


def teaches(correction: Correction) -> bool:
    """Return whether a correction changed the post's category (any way but between "none" and "other")."""
    given, picked = correction.category, correction.model_category
    return given is not None and _label(given) != _label(picked)


def category_feedback(corrections: Sequence[Correction]) -> list[CategoryFeedback]:
    """Return what `corrections` teach each category: the posts moved into it, and those taken out of it."""
    examples: dict[str, list[str]] = {}
    negatives: dict[str, list[str]] = {}
    for correction in filter(teaches, corrections):
        given, picked = correction.category or "none", correction.model_category
        if given not in NO_CATEGORY:
            examples.setdefault(given, []).append(correction.text)
        elif picked is not None:  # `teaches` means the model had picked a category
            negatives.setdefault(picked, []).append(correction.text)
    return [CategoryFeedback(name, tuple(examples.get(name, ())), tuple(negatives.get(name, ())))
            for name in sorted({*examples, *negatives})]


def _label(category: str | None) -> str:
    return "none" if category is None or category in NO_CATEGORY else category


def picked(scores: Scores) -> str:
    """Return the category the model read from a post: a brand's own by its name, else the built-in one."""
    return scores.category if scores.category is not None else scores.urgency_category


def category_figures(labels: Sequence[str | None], predicted: Sequence[str | None]) -> dict[str, float]:
    """Return category accuracy and macro-F1 (over the labels' classes), with "none" and "other" as one class."""
    truth = [_label(c) for c in labels]
    found = figures(truth, [_label(c) for c in predicted], sorted(set(truth)))
    return {"accuracy": found.accuracy, "macro_f1": found.macro_f1}


@dataclass(slots=True)
class CategoryMeta:
    """What a brand categories file records beside the feedback: where it came from and how it scored."""

    brand: str
    #: The classifier it was checked with (feedback is text, re-embedded by whichever encoder loads it).
    model: str
    trained_on: int
    held_out: int
    figures: dict[str, float] = field(default_factory=dict)
    before: dict[str, float] = field(default_factory=dict)
    created_at: str = ""


@dataclass(frozen=True, slots=True)
class CategoryOutcome:
    """What learning one brand's categories from its corrections gave, and whether it is good enough to keep."""

    brand: str
    #: Corrections outside the held-out share, and how many of them changed a category.
    trained_on: int
    taught: int
    held_out: int
    before: dict[str, float]
    after: dict[str, float]
    feedback: tuple[CategoryFeedback, ...]
    meta: CategoryMeta

    @property
    def accepted(self) -> bool:
        """True when the held-out category macro-F1 with the feedback is at least the current model's."""
        return self.after["macro_f1"] >= self.before["macro_f1"]


def _replacing(new: Sequence[CategoryFeedback], old: Sequence[CategoryFeedback]) -> list[CategoryFeedback]:
    """Return `new` and an empty feedback for each category only `old` taught, so `new` replaces `old` whole."""
    names = {f.name for f in new}
    return [*new, *(CategoryFeedback(f.name) for f in old if f.name not in names)]


def train_categories(
    classifier: TransformerClassifier,
    brand: str,
    corrections: Sequence[Correction],
    *,
    current: Sequence[CategoryFeedback] = (),
    holdout: float = 0.25,
    seed: int = 13,
    min_corrections: int = MIN_CATEGORY_CORRECTIONS,
) -> CategoryOutcome:
    """Learn `brand`'s categories from its corrections and check them, through `classifier`, on held-out ones.

    `current` is the feedback the classifier holds for the brand now (what it loaded at start); it is put back
    after the check. Raises ValueError when the classifier does not read categories from the encoder or there
    are too few category corrections. The held-out split is `split_held_out`'s, as for the heads.
    """
    if not classifier.categories(brand):
        raise ValueError(f"{brand}: the classifier reads categories from keywords; set classifier.options."
                         "model_categories: true (or give the brand categories) to learn them from corrections")
    readable = [c for c in corrections if c.category is not None
                and (c.language is None or c.language in classifier.languages)]
    if len(readable) <= MIN_HELD_OUT:
        raise ValueError(f"{brand}: {len(readable)} corrections with a category the model can read; more than "
                         f"{MIN_HELD_OUT} are needed to learn categories and check them")
    held_ids = split_held_out([c.id for c in readable], holdout=holdout, seed=seed)
    held = [c for c in readable if c.id in held_ids]
    train = [c for c in readable if c.id not in held_ids]
    feedback = category_feedback(train)
    taught = sum(map(teaches, train))
    if taught < min_corrections:
        raise ValueError(f"{brand}: {taught} category corrections outside the held-out ones; at least "
                         f"{min_corrections} are needed to learn categories")
    posts = [Post(c.text, c.language, brand) for c in held]
    labels = [c.category for c in held]
    # a correction keeps a brand category's own name (routing stores it as "other"), so the check reads the
    # model's own pick, `Scores.category`
    before = category_figures(labels, [picked(s) for s in classifier.classify(posts)])
    classifier.add_categories(brand, _replacing(feedback, current))
    try:
        after = category_figures(labels, [picked(s) for s in classifier.classify(posts)])
    finally:
        classifier.add_categories(brand, _replacing(current, feedback))
    meta = CategoryMeta(brand=brand, model=classifier.name, trained_on=len(train), held_out=len(held),
                        figures=after, before=before, created_at=datetime.now(UTC).isoformat(timespec="seconds"))
    return CategoryOutcome(brand, len(train), taught, len(held), before, after, tuple(feedback), meta)


def save_category_feedback(path: Path, outcome: CategoryOutcome) -> None:
    """Write a brand's learned category feedback and its record as JSON (atomically: a reader never sees half)."""
    body = {"format": FORMAT, **asdict(outcome.meta),
            "categories": [{"name": f.name, "examples": list(f.examples), "negatives": list(f.negatives)}
                           for f in outcome.feedback]}
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(body, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    partial.replace(path)


def load_category_feedback(path: Path) -> tuple[list[CategoryFeedback], CategoryMeta]:
    """Read a brand categories file; `ModelUnavailable` says what is wrong with it."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        if body.get("format") != FORMAT:
            raise ValueError(f"format is {body.get('format')!r}, not {FORMAT!r}")
        feedback = [CategoryFeedback(str(item["name"]), tuple(map(str, item.get("examples", ()))),
                                     tuple(map(str, item.get("negatives", ())))) for item in body["categories"]]
        meta = CategoryMeta(**{name: body[name] for name in CategoryMeta.__dataclass_fields__ if name in body})
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ModelUnavailable(f"{path}: not a brandmon brand categories file ({exc}); delete it or run "
                               "`brandmon train --corrections`") from exc
    return feedback, meta


def saved_category_feedback(data_dir: str | Path, brands: Sequence[str]) -> dict[str, list[CategoryFeedback]]:
    """Return the saved category feedback of each of `brands` that has a file under `data_dir`."""
    found = {}
    for brand in brands:
        path = brand_categories_file(data_dir, brand)
        if path.is_file():
            found[brand] = load_category_feedback(path)[0]
    return found


def with_category_feedback(options: Mapping[str, Any], saved: Mapping[str, Sequence[CategoryFeedback]]
                           ) -> dict[str, Any]:
    """Return classifier options with `saved` feedback added to the brands' categories (turning them on)."""
    out = dict(options)
    if not saved:
        return out
    out.setdefault("model_categories", True)
    brand_categories = {brand: list(specs) for brand, specs in dict(out.get("brand_categories") or {}).items()}
    for brand, feedback in saved.items():
        brand_categories[brand] = [*brand_categories.get(brand, []), *feedback]
    out["brand_categories"] = brand_categories
    return out


__all__ = [
    "NO_CATEGORY",
    "CategoryMeta",
    "CategoryOutcome",
    "brand_categories_file",
    "category_feedback",
    "category_figures",
    "check_set_corrections",
    "load_category_feedback",
    "picked",
    "save_category_feedback",
    "saved_category_feedback",
    "teaches",
    "train_categories",
    "with_category_feedback",
]


def check_set_corrections(classifier: TransformerClassifier, brand: str = "Acme") -> list[Correction]:
    """Return models/checks/categories.jsonl as corrections of `brand`'s posts: the label against the model's pick."""
    from models.check_sets import category_texts

    texts, labels = category_texts()
    picked = [s.urgency_category for s in classifier.classify([Post(t, "en", brand) for t in texts])]
    return [Correction(id=n, text=text, sentiment="neutral", complaint=label == "other", language="en",
                       category=label, model_category=model)
            for n, (text, label, model) in enumerate(zip(texts, labels, picked, strict=True), start=1)]


def main(argv: Sequence[str] | None = None) -> None:
    """Run `python -m models.category_corrections`: learn from half the category check set, check on the rest."""
    import argparse

    import torch

    parser = argparse.ArgumentParser(description="Measure categories learned from corrections on the check set.")
    parser.add_argument("--holdout", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from models.transformer import TransformerClassifier

    classifier = TransformerClassifier(model_categories=True)
    outcome = train_categories(classifier, "Acme", check_set_corrections(classifier), holdout=args.holdout,
                               seed=args.seed)
    print(f"{outcome.trained_on} corrections used ({outcome.taught} changed a category), {outcome.held_out} held "
          f"out: before {outcome.before}, after {outcome.after}: {'kept' if outcome.accepted else 'refused'}")


if __name__ == "__main__":
    main()
