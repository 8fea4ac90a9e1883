"""Classification figures: macro recall and F1, accuracy, per-class recall, expected calibration error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

ECE_BINS = 15


@dataclass(frozen=True, slots=True)
class Figures:
    """The figures for one task of one model on one data set."""

    n: int
    macro_recall: float
    macro_f1: float
    accuracy: float
    per_class_recall: dict[str, float]
    ece: float | None
    #: Share of posts the model handed to a human instead of deciding; None for models that never abstain.
    abstain_rate: float | None = None

    def as_dict(self) -> dict[str, object]:
        """Return the figures as plain JSON values, rounded to 4 places."""
        return {
            "n": self.n,
            "macro_recall": round(self.macro_recall, 4),
            "macro_f1": round(self.macro_f1, 4),
            "accuracy": round(self.accuracy, 4),
            "per_class_recall": {k: round(v, 4) for k, v in self.per_class_recall.items()},
            "ece": None if self.ece is None else round(self.ece, 4),
            "abstain_rate": None if self.abstain_rate is None else round(self.abstain_rate, 4),
        }


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, *, bins: int = ECE_BINS) -> float:
    """Return the top-label ECE: the confidence-weighted gap between confidence and accuracy."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            total += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(total)


def classification_figures(
    labels: Sequence[int] | np.ndarray,
    predicted: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    *,
    probs: np.ndarray | None = None,
    abstained: Sequence[bool] | None = None,
) -> Figures:
    """Compute the figures for integer `labels` against `predicted` (and `probs`, rows over classes)."""
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(predicted, dtype=np.int64)
    if y.shape != p.shape or y.size == 0:
        raise ValueError(f"need as many predictions as labels, got {p.size} for {y.size}")
    recalls, f1s = {}, []
    for index, name in enumerate(class_names):
        true_pos = float(np.sum((y == index) & (p == index)))
        actual = float(np.sum(y == index))
        guessed = float(np.sum(p == index))
        recall = true_pos / actual if actual else 0.0
        precision = true_pos / guessed if guessed else 0.0
        recalls[name] = recall
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    present = [recalls[name] for i, name in enumerate(class_names) if np.any(y == i)]
    present_f1 = [f for i, f in enumerate(f1s) if np.any(y == i)]
    return Figures(
        n=int(y.size),
        macro_recall=float(np.mean(present)),
        macro_f1=float(np.mean(present_f1)),
        accuracy=float(np.mean(y == p)),
        per_class_recall=recalls,
        ece=None if probs is None else expected_calibration_error(np.asarray(probs), y),
        abstain_rate=None if abstained is None else float(np.mean(np.asarray(abstained, dtype=bool))),
    )
