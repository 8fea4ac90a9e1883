"""Every setting and every registry entry appears in the README."""

from __future__ import annotations

import types
import typing

from pydantic import BaseModel

import models
import sources
from core.settings import Secrets, Settings
from tests.support.paths import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def _models_in(annotation: object) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for arg in typing.get_args(annotation) or ():
        found.extend(_models_in(arg))
    if isinstance(annotation, types.UnionType):
        for arg in annotation.__args__:
            found.extend(_models_in(arg))
    return found


def setting_names(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    """Return the name of every field of `model` and of the models nested in it."""
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    names = set(model.model_fields)
    for field in model.model_fields.values():
        for nested in _models_in(field.annotation):
            names |= setting_names(nested, seen)
    return names


def test_every_setting_is_documented() -> None:
    missing = sorted(name for name in setting_names(Settings) if f"`{name}" not in README and f"{name}`" not in README
                     and f", {name}" not in README and f"{name}," not in README)
    assert not missing, f"settings missing from README.md: {missing}"


def test_every_secret_is_documented() -> None:
    missing = [f"BRANDMON_{name.upper()}" for name in Secrets.model_fields if f"BRANDMON_{name.upper()}" not in README]
    assert not missing, f"secrets missing from README.md: {missing}"


def test_every_registry_entry_is_documented() -> None:
    for registry in (sources.REGISTRY, models.REGISTRY):
        for name, target in registry.items():
            module_path = target.split(":")[0].replace(".", "/") + ".py"
            assert f"`{name}`" in README, f"registry entry {name!r} missing from README.md"
            assert module_path in README, f"module {module_path} missing from README.md"
