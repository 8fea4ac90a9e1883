"""One loader for every plugin registry (sources, classifiers, channels): "module:Name" strings, imported on use.

A registry maps a configured name to the import string of the class or function behind it, so a missing
optional SDK stops only the plugin that needs it, with one clear "could not enable" error.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


class PluginUnavailable(RuntimeError):
    """A registry entry that is unknown or cannot be imported."""


def load_entry(registry: Mapping[str, str], name: str, *, what: str, error: type[Exception] = PluginUnavailable) -> Any:
    """Import and return what `registry[name]` names; failures raise `error` saying what and why.

    `what` is the kind of plugin in words ("source type", "classifier", "Slack renderer").
    """
    try:
        target = registry[name]
    except KeyError:
        raise error(f"unknown {what} {name!r}; known: {', '.join(sorted(registry))}") from None
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise error(f"could not enable {what} {name!r}: {exc}") from exc
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise error(f"could not enable {what} {name!r}: {module_name} has no {attribute}") from None


def suggest(name: str, known: Mapping[str, Any] | list[str]) -> str:
    """Return a "; did you mean 'x'?" hint for a misspelt registry name, or an empty string."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
