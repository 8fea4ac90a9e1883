"""Fit e5's sentiment head on the mean pools of its last layers, and print its UMSAB val figures.

    python -m models.fit_layer_sentiment [--data-dir ../shared/data] [--layers 4] [--cache FILE.npz]
                                         [--output FILE] [--c-grid 0.0003 0.001 0.003 0.01] [--threads 1]

Each UMSAB train and val post goes through multilingual-e5-small (float32, as the other e5 heads were fitted) and
its last `--layers` layers are mean-pooled and concatenated. The head is a logistic regression on the standardised
vectors, with the scaling folded into its weights. C is chosen by 5-fold cross-validation on train (folds stratified
by label and language) on the macro-F1 averaged over the languages other than English, the posts e5 scores; val is
read once at the end, for the temperature and the figures, which are printed and recorded in the file.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from models.data import DEFAULT_DATA_DIR, DataError, load_examples
from models.e5 import load_e5
from models.fitting import fit_temperature
from models.heads import load_heads
from models.layer_sentiment import BUILTIN_ML_LAYER_SENTIMENT, LayerSentimentMeta, save_layer_sentiment
from models.multilingual import BUILTIN_ML_HEADS
from models.multilingual_training import UMSAB, fit_linear, mean_pools, per_language_f1

VERSION = "l4-v1"


def choose_c(x: np.ndarray, y: np.ndarray, langs: np.ndarray, grid: Sequence[float], *, folds: int = 5,
             seed: int = 13) -> dict[float, float]:
    """Return each C's cross-validated macro-F1 on train, averaged over the languages other than English."""
    from sklearn.model_selection import StratifiedKFold

    strata = np.array([f"{label}-{lang}" for label, lang in zip(y, langs, strict=True)])
    scores: dict[float, list[float]] = {c: [] for c in grid}
    for fit_rows, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, strata):
        for c in grid:
            weight, bias = fit_linear(x[fit_rows], y[fit_rows], c)
            predicted = (x[held] @ weight.T + bias).argmax(1)
            scores[c].append(per_language_f1(y[held], predicted, list(langs[held]))["avg_non_en"])
    return {c: float(np.mean(v)) for c, v in scores.items()}


def main(argv: Sequence[str] | None = None) -> None:
    """Run `python -m models.fit_layer_sentiment`."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--cache", type=Path, default=None, help="keep the pooled vectors here (.npz) for reruns")
    parser.add_argument("--output", type=Path, default=BUILTIN_ML_LAYER_SENTIMENT)
    parser.add_argument("--c-grid", type=float, nargs="+", default=[0.0003, 0.001, 0.003, 0.01])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.layers < 1:
        parser.error("--layers must be at least 1")
    torch.set_num_threads(args.threads)
    started = time.monotonic()
    _, _, heads_meta = load_heads(BUILTIN_ML_HEADS)
    try:
        train, val = (load_examples(args.data_dir / UMSAB.format(split=split)) for split in ("train", "val"))
    except DataError as exc:
        raise SystemExit(f"{exc} (UMSAB; see ../shared/data/README.md)") from None
    if args.cache is not None and args.cache.is_file():
        cached = np.load(args.cache)
        x_train, x_val = cached["train"], cached["val"]
        if x_train.shape != (len(train), args.layers * heads_meta.hidden_size) or len(x_val) != len(val):
            raise SystemExit(f"{args.cache}: cached vectors do not fit {args.layers} layers of this data; delete it")
    else:
        tokenizer, encoder = load_e5()
        x_train, x_val = (mean_pools(tokenizer, encoder, [e.text for e in rows], layers=args.layers, batch_size=32,
                                     max_length=heads_meta.max_length, desc=f"e5 layers, {name}")
                          for name, rows in (("train", train), ("val", val)))
        if args.cache is not None:
            args.cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez(args.cache, train=x_train, val=x_val)
    y_train, y_val = (np.array([e.sentiment for e in rows]) for rows in (train, val))
    langs_train = np.array([e.lang or "?" for e in train])
    langs_val = [e.lang or "?" for e in val]
    cv = choose_c(x_train, y_train, langs_train, args.c_grid)
    best = max(cv, key=lambda c: cv[c])
    weight, bias = fit_linear(x_train, y_train, best)
    logits = x_val @ weight.T + bias
    figures = per_language_f1(y_val, logits.argmax(1), langs_val)
    temperature = fit_temperature(logits, y_val)
    meta = LayerSentimentMeta(
        version=VERSION, encoder=heads_meta.encoder, hidden_size=heads_meta.hidden_size, layers=args.layers,
        temperature=temperature,
        training={"data": "UMSAB train", "C": best, "cv_avg_non_en": {str(c): round(v, 4) for c, v in cv.items()},
                  "val_macro_f1": {k: round(v, 4) for k, v in figures.items()},
                  "seconds": round(time.monotonic() - started, 1)},
    )
    save_layer_sentiment(args.output, torch.from_numpy(weight), torch.from_numpy(bias), meta)
    print(json.dumps({"output": str(args.output), **meta.training, "temperature": round(temperature, 4)}, indent=1))


if __name__ == "__main__":
    main()
