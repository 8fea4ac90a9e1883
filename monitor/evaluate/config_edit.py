"""Write calibrated route thresholds back into a config file, changing nothing else in it.

The file is composed (not loaded) with PyYAML, which gives each node's place in the text. Each calibrated route's
`min_urgency` value is replaced where it stands; a route without one gets `min_urgency: X` after its name, inside
its braces for a `{...}` route or on a line of its own for a block one. Comments, quoting, order and layout of
everything else stay as they were. (A round-trip YAML library would re-indent lists and reflow long lines.)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from core.settings import ConfigError


def _value(mapping: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    for key_node, value_node in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None


def set_route_thresholds(text: str, thresholds: Mapping[str, float], *, origin: str) -> str:
    """Return `text` with `slack.routes[].min_urgency` set to `thresholds[route name]` for the routes named."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: invalid YAML: {exc}") from None
    slack = _value(root, "slack") if isinstance(root, yaml.MappingNode) else None
    routes = _value(slack[1], "routes") if slack and isinstance(slack[1], yaml.MappingNode) else None
    if routes is None or not isinstance(routes[1], yaml.SequenceNode):
        raise ConfigError(f"{origin}: no slack.routes list to write thresholds into")
    newline = "\r\n" if "\r\n" in text else "\n"
    edits: list[tuple[int, int, str]] = []
    found: set[str] = set()
    for route in routes[1].value:
        name = _value(route, "name") if isinstance(route, yaml.MappingNode) else None
        if name is None or name[1].value not in thresholds:
            continue
        found.add(name[1].value)
        value = f"{thresholds[name[1].value]:g}"
        current = _value(route, "min_urgency")
        if current is not None:
            edits.append((current[1].start_mark.index, current[1].end_mark.index, value))
        elif route.flow_style:
            edits.append((name[1].end_mark.index, name[1].end_mark.index, f", min_urgency: {value}"))
        else:
            end = text.find("\n", name[1].end_mark.index)
            end = len(text) if end < 0 else end - (1 if text[end - 1 : end] == "\r" else 0)
            indent = " " * name[0].start_mark.column
            edits.append((end, end, f"{newline}{indent}min_urgency: {value}"))
    missing = sorted(set(thresholds) - found)
    if missing:
        raise ConfigError(f"{origin}: slack.routes has no route named {', '.join(map(repr, missing))}")
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def write_route_thresholds(path: Path, thresholds: Mapping[str, float]) -> None:
    """Rewrite `path` with the thresholds set, refusing (and leaving the file alone) if the result does not load.

    The new text is checked first: it must load as settings whose routes have exactly these thresholds.
    """
    from core.settings.loading import parse_settings, parse_yaml

    raw = path.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    updated = set_route_thresholds(text, thresholds, origin=str(path))
    settings = parse_settings(parse_yaml(updated, str(path)), origin=str(path))
    wrote = {rule.name: rule.min_urgency for rule in settings.slack.routes if rule.name in thresholds}
    if any(abs(wrote[name] - value) > 1e-9 for name, value in thresholds.items()):
        raise ConfigError(f"{path}: the rewritten file would not hold the chosen thresholds; left unchanged")
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes((b"\xef\xbb\xbf" if bom else b"") + updated.encode("utf-8"))
    partial.replace(path)
