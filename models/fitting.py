"""The training loop every encoder shares: adapters and heads on mixed sentiment and complaint batches.

`models.training` runs it on the English MiniLM, `models.multilingual_training` on multilingual-e5-small.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional
from tqdm import tqdm

from models.data import DEFAULT_DATA_DIR, Example
from models.encoder import load_lora, lora_state
from models.heads import BUILTIN_HEADS
from models.network import TriageNet

log = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class AdapterConfig:
    """What decides a run of adapters and heads on some encoder; the same config and seed give the same weights."""

    data_dir: Path = DEFAULT_DATA_DIR
    output: Path = BUILTIN_HEADS
    seed: int = 13
    epochs: float = 2.0
    batch_size: int = 32
    #: Complaint posts mixed into every step, beside `batch_size` sentiment posts.
    complaint_batch_size: int = 8
    lr: float = 1e-3
    head_lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_frac: float = 0.06
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.05
    max_length: int = 128
    complaint_loss_weight: float = 1.0
    severity_loss_weight: float = 0.5
    eval_every: int = 300
    #: Use at most this many posts per file (for quick checks and tests); None uses everything.
    limit: int | None = None
    #: Cut the run to fit this many minutes (the step count is set from the first 10 steps' speed); None: no cut.
    max_minutes: float | None = None
    num_threads: int | None = None
    progress: bool = True

    def record(self) -> dict[str, Any]:
        """Return the config as JSON values for the heads file's training record."""
        raw = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        raw.pop("output")
        raw.pop("progress")
        return raw


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a run repeats exactly on the same machine."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass(frozen=True, slots=True)
class Encoded:
    """Tokenised examples with their labels as arrays; -1 means "no label"."""

    ids: list[list[int]]
    sentiment: np.ndarray
    complaint: np.ndarray
    severity: np.ndarray


    @classmethod
    def of(cls, ids: Sequence[list[int]], examples: Sequence[Example]) -> Encoded:
        """Return token ids (one list per example, unpadded) with the examples' labels."""
        return cls(
            ids=list(ids),
            sentiment=np.array([-1 if e.sentiment is None else e.sentiment for e in examples], dtype=np.int64),
            complaint=np.array([-1 if e.complaint is None else int(e.complaint) for e in examples], dtype=np.int64),
            severity=np.array([-1 if e.severity is None else e.severity for e in examples], dtype=np.int64),
        )


def length_bucketed_order(lengths: Sequence[int], batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffle, sort within windows of 50 batches by length (less padding), and shuffle the batches."""
    order = rng.permutation(len(lengths))
    window = batch_size * 50
    batches: list[np.ndarray] = []
    for start in range(0, len(order), window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort([lengths[i] for i in chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def collate(data: Encoded, index: np.ndarray, pad_id: int) -> dict[str, torch.Tensor]:
    """Pad the chosen examples into tensors."""
    rows = [data.ids[i] for i in index]
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, row in enumerate(rows):
        input_ids[r, : len(row)] = torch.tensor(row)
        mask[r, : len(row)] = 1
    return {
        "input_ids": input_ids,
        "attention_mask": mask,
        "sentiment": torch.from_numpy(data.sentiment[index]),
        "complaint": torch.from_numpy(data.complaint[index]),
        "severity": torch.from_numpy(data.severity[index]),
    }


def _stack(parts: Sequence[dict[str, torch.Tensor]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(p["input_ids"].shape[1] for p in parts)
    out: dict[str, torch.Tensor] = {}
    for key in parts[0]:
        tensors = []
        for p in parts:
            t = p[key]
            if t.dim() == 2 and t.shape[1] < width:
                fill = pad_id if key == "input_ids" else 0
                t = functional.pad(t, (0, width - t.shape[1]), value=fill)
            tensors.append(t)
        out[key] = torch.cat(tensors)
    return out


def autocast(enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """Run matrix work in bfloat16 where the CPU does it natively; a no-op otherwise."""
    return torch.autocast("cpu", dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


@torch.no_grad()
def predict_logits(
    net: TriageNet, data: Encoded, *, pad_id: int, bf16: bool, batch_size: int = 128
) -> dict[str, np.ndarray]:
    """Return every task's logits for `data`, in its order."""
    net.eval()
    order = np.argsort([len(r) for r in data.ids], kind="stable")
    parts: dict[str, list[np.ndarray]] = {"sentiment": [], "complaint": [], "severity": []}
    for start in range(0, len(order), batch_size):
        batch = collate(data, order[start : start + batch_size], pad_id)
        with autocast(bf16):
            result = net(batch["input_ids"], batch["attention_mask"])
        for task, chunks in parts.items():
            chunks.append(result.logits[task].float().numpy())
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return {task: np.concatenate(chunks)[inverse] for task, chunks in parts.items()}


def fit_temperature(logits: np.ndarray, labels: np.ndarray, *, binary: bool = False) -> float:
    """Return the temperature that minimises validation log loss (Guo et al., 2017)."""
    z = torch.tensor(logits, dtype=torch.float64)
    y = torch.tensor(labels)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        scaled = z / log_t.exp()
        loss = (
            functional.binary_cross_entropy_with_logits(scaled, y.double())
            if binary
            else functional.cross_entropy(scaled, y)
        )
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimiser.step(closure)  # type: ignore[no-untyped-call]
    return float(min(10.0, max(0.05, log_t.exp().item())))


def fit_temperatures(logits: dict[str, np.ndarray], sent_val: Encoded, comp_val: Encoded) -> dict[str, float]:
    """Return the sentiment, complaint and severity temperatures for validation logits (`s_*` and `c_*` keys)."""
    has_sev = comp_val.severity >= 0
    return {
        "sentiment": fit_temperature(logits["s_sentiment"], sent_val.sentiment),
        "complaint": fit_temperature(logits["c_complaint"], comp_val.complaint, binary=True),
        "severity": fit_temperature(logits["c_severity"][has_sev], comp_val.severity[has_sev]),
    }


def _cycle(batches: Callable[[], list[np.ndarray]]) -> Iterator[np.ndarray]:
    while True:
        yield from batches()


@dataclass(slots=True)
class Fitted:
    """What `fit_adapters` chose: the best checkpoint's step, figures, adapter state and validation logits."""

    steps: int
    best_step: int
    val: dict[str, float]
    lora: dict[str, torch.Tensor]
    logits: dict[str, np.ndarray]
    history: list[dict[str, float]] = field(default_factory=list)


def fit_adapters(
    net: TriageNet,
    config: AdapterConfig,
    *,
    sent_train: Encoded,
    comp_train: Encoded,
    pad_id: int,
    evaluate: Callable[[], tuple[dict[str, float], dict[str, np.ndarray]]],
    choose: Callable[[dict[str, float]], float],
    class_weight: torch.Tensor | None = None,
    bf16: bool = False,
) -> Fitted:
    """Train the adapters and heads of `net` on mixed sentiment and complaint batches; keep the best checkpoint.

    `evaluate` returns the validation figures and logits (`s_*`, `c_*`); `choose` turns figures into the number
    to maximise. On return `net` holds the best checkpoint.
    """
    heads = net.heads
    rng = np.random.default_rng(config.seed)
    steps_per_epoch = math.ceil(len(sent_train.ids) / config.batch_size)
    total = max(1, int(steps_per_epoch * config.epochs))
    sent_batches = _cycle(lambda: length_bucketed_order([len(r) for r in sent_train.ids], config.batch_size, rng))
    comp_batches = _cycle(
        lambda: length_bucketed_order([len(r) for r in comp_train.ids], config.complaint_batch_size, rng)
    )
    lora_params = [p for n, p in net.named_parameters() if "lora_" in n]
    optimiser = torch.optim.AdamW(
        [
            {"params": lora_params, "lr": config.lr},
            {"params": list(heads.parameters()), "lr": config.head_lr},
        ],
        weight_decay=config.weight_decay,
    )

    def factor(step: int) -> float:
        warmup = int(total * config.warmup_frac)
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, factor)
    best: tuple[float, int, dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, float]] | None = None
    history: list[dict[str, float]] = []
    logits: dict[str, np.ndarray] = {}
    bar = tqdm(total=total, desc="train", unit="step", disable=not config.progress)
    started = time.monotonic()
    step = 0
    while step < total:
        net.train()
        batch = _stack(
            [collate(sent_train, next(sent_batches), pad_id), collate(comp_train, next(comp_batches), pad_id)], pad_id
        )
        with autocast(bf16):
            result = net(batch["input_ids"], batch["attention_mask"])
        loss = _loss(result.logits, batch, class_weight, config)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        nn.utils.clip_grad_norm_(lora_params + list(heads.parameters()), 1.0)
        optimiser.step()
        scheduler.step()
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}")
        if step == 10 and config.max_minutes:
            # Leave room for about six validation passes.
            fit = int((config.max_minutes * 60 - 360) / ((time.monotonic() - started) / 10))
            if fit < total:
                log.info("cutting the run from %d to %d steps to fit %s minutes", total, fit, config.max_minutes)
                total = max(fit, 20)
                bar.total = total
        if step % config.eval_every == 0 or step == total:
            scores, logits = evaluate()
            history.append({"step": step, **scores})
            log.info("step %d: %s", step, scores)
            bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
            if best is None or choose(scores) > best[0]:
                head_state = {k: v.clone() for k, v in heads.state_dict().items()}
                best = (choose(scores), step, lora_state(net.encoder), head_state, scores)
    bar.close()
    assert best is not None  # the last step always evaluates
    _, best_step, best_lora, best_heads, best_scores = best
    if best_step != step:
        load_lora(net.encoder, best_lora)
        heads.load_state_dict(best_heads)
        _, logits = evaluate()
    return Fitted(total, best_step, best_scores, best_lora, logits, history)


def _loss(
    logits: dict[str, torch.Tensor],
    batch: dict[str, torch.Tensor],
    class_weight: torch.Tensor | None,
    config: AdapterConfig,
) -> torch.Tensor:
    total = logits["sentiment"].new_zeros(())
    has_sent = batch["sentiment"] >= 0
    if has_sent.any():
        total = total + functional.cross_entropy(
            logits["sentiment"][has_sent].float(), batch["sentiment"][has_sent], weight=class_weight
        )
    has_comp = batch["complaint"] >= 0
    if has_comp.any():
        total = total + config.complaint_loss_weight * functional.binary_cross_entropy_with_logits(
            logits["complaint"][has_comp].float(), batch["complaint"][has_comp].float()
        )
    has_sev = batch["severity"] >= 0
    if has_sev.any():
        total = total + config.severity_loss_weight * functional.cross_entropy(
            logits["severity"][has_sev].float(), batch["severity"][has_sev]
        )
    return total
