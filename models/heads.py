"""The small task heads on the pooled encoder output, and the one file that ships them with their adapters."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from models.base import SENTIMENTS
from models.encoder import LoRAConfig

FORMAT = "brandmon-heads"
SEVERITY_LEVELS = 5
#: The heads file that ships in the package and goes with the built-in encoder.
BUILTIN_HEADS = Path(__file__).resolve().parent / "weights" / "minilm-l6-heads-v1.safetensors"


class HeadsUnavailable(RuntimeError):
    """The heads file is missing, damaged, or made for another encoder."""


class TriageHeads(nn.Module):
    """Linear heads for sentiment, complaint and severity on one pooled vector.

    They are linear on a mean of token states, so each token's share of a logit is exactly its state
    times the head's weight divided by the token count: that is what explanations read.
    """

    def __init__(self, hidden_size: int, *, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.sentiment = nn.Linear(hidden_size, len(SENTIMENTS))
        self.complaint = nn.Linear(hidden_size, 1)
        self.severity = nn.Linear(hidden_size, SEVERITY_LEVELS)

    def forward(self, pooled: torch.Tensor) -> dict[str, torch.Tensor]:
        """Return raw logits per task for a batch of pooled vectors."""
        x = self.dropout(pooled)
        return {
            "sentiment": self.sentiment(x),
            "complaint": self.complaint(x).squeeze(-1),
            "severity": self.severity(x),
        }


@dataclass(slots=True)
class HeadsMeta:
    """Everything besides tensors that a heads file records."""

    version: str
    encoder: str
    hidden_size: int
    lora: LoRAConfig | None
    languages: tuple[str, ...] = ("en",)
    max_length: int = 128
    #: Temperatures fitted on validation data, per task, so probabilities are calibrated.
    temperature: dict[str, float] = field(default_factory=lambda: {"sentiment": 1.0, "complaint": 1.0, "severity": 1.0})
    complaint_threshold: float = 0.5
    training: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """Serialise for the safetensors metadata block."""
        return json.dumps(
            {
                "format": FORMAT,
                "version": self.version,
                "encoder": self.encoder,
                "hidden_size": self.hidden_size,
                "lora": self.lora.to_dict() if self.lora else None,
                "languages": list(self.languages),
                "max_length": self.max_length,
                "temperature": self.temperature,
                "complaint_threshold": self.complaint_threshold,
                "training": self.training,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str, *, source: str) -> HeadsMeta:
        """Parse `to_json`'s output, saying which file was bad when it is."""
        try:
            raw = json.loads(text)
            if raw.get("format") != FORMAT:
                raise ValueError(f"format is {raw.get('format')!r}, want {FORMAT!r}")
            return cls(
                version=str(raw["version"]),
                encoder=str(raw["encoder"]),
                hidden_size=int(raw["hidden_size"]),
                lora=LoRAConfig.from_dict(raw["lora"]) if raw.get("lora") else None,
                languages=tuple(raw.get("languages", ("en",))),
                max_length=int(raw.get("max_length", 128)),
                temperature={k: float(v) for k, v in raw["temperature"].items()},
                complaint_threshold=float(raw.get("complaint_threshold", 0.5)),
                training=dict(raw.get("training", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise HeadsUnavailable(f"{source}: not a brandmon heads file: {exc}") from exc


def dump_meta(meta: Any, format_name: str) -> str:
    """Serialise a metadata dataclass as {"format": format_name, **its fields} for a safetensors block."""
    return json.dumps({"format": format_name, **asdict(meta)}, sort_keys=True)


def meta_fields(cls: type, text: str, format_name: str) -> dict[str, Any]:
    """Parse `dump_meta`'s output: check its format and keep the fields `cls` knows (missing ones take defaults)."""
    raw = json.loads(text)
    if raw.get("format") != format_name:
        raise ValueError(f"format is {raw.get('format')!r}, want {format_name!r}")
    known = {f.name for f in fields(cls)}
    return {k: v for k, v in raw.items() if k in known}


def write_weights(path: Path, tensors: Mapping[str, torch.Tensor], metadata: str) -> None:
    """Write float32 tensors and a JSON metadata block into one safetensors file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().float().contiguous() for k, v in tensors.items()}, str(path),
              metadata={"brandmon": metadata})


def read_weights(path: Path, *, kind: str, hint: str) -> tuple[dict[str, torch.Tensor], str]:
    """Return the tensors and the JSON metadata block of a file `write_weights` wrote.

    Raises `HeadsUnavailable` naming the file and `kind` ("heads", "extra heads") when it is missing or damaged;
    `hint` says how to make one.
    """
    if not path.is_file():
        raise HeadsUnavailable(f"{path}: {kind} file not found ({hint})")
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise HeadsUnavailable(f"{path}: cannot read {kind} file: {exc}") from exc
    return tensors, metadata.get("brandmon", "{}")


def load_state(module: nn.Module, state: Mapping[str, torch.Tensor], *, path: Path, hidden_size: int) -> None:
    """Load `state` into `module`, saying which file did not fit when it does not."""
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise HeadsUnavailable(f"{path}: heads do not fit hidden size {hidden_size}: {exc}") from exc


def save_heads(
    path: Path, *, heads: TriageHeads, lora: Mapping[str, torch.Tensor], meta: HeadsMeta
) -> None:
    """Write heads, adapter tensors and metadata into one safetensors file."""
    tensors = {f"heads.{k}": v for k, v in heads.state_dict().items()}
    tensors.update({f"lora.{k}": v for k, v in lora.items()})
    write_weights(path, tensors, meta.to_json())


def load_heads(path: Path) -> tuple[TriageHeads, dict[str, torch.Tensor], HeadsMeta]:
    """Read a heads file; return the heads module, the adapter tensors and the metadata."""
    tensors, metadata = read_weights(path, kind="heads", hint="run `brandmon train` to make one")
    meta = HeadsMeta.from_json(metadata, source=str(path))
    heads = TriageHeads(meta.hidden_size)
    head_state = {k.removeprefix("heads."): v for k, v in tensors.items() if k.startswith("heads.")}
    load_state(heads, head_state, path=path, hidden_size=meta.hidden_size)
    lora = {k.removeprefix("lora."): v for k, v in tensors.items() if k.startswith("lora.")}
    return heads.eval(), lora, meta
