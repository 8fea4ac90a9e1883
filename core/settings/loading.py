"""Read, check and validate a config file into `Settings`."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from core.settings.base import _SECRET_KEY, DATABASE_URL_ENV, ConfigError
from core.settings.model import Settings

#: A URL with a password in it: `scheme://user:password@`.
_URL_CREDENTIALS = re.compile(r"[a-z][a-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@", re.IGNORECASE)


def _format_loc(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path

def _has_credentials(value: Any) -> bool:
    """True for a URL that carries a password (`scheme://user:password@host`)."""
    return isinstance(value, str) and _URL_CREDENTIALS.search(value) is not None

def _refuse_secrets(data: Any, path: str = "") -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if (_SECRET_KEY.search(str(key)) and value not in (None, "")) or _has_credentials(value):
                raise ConfigError(
                    f"{where}: secrets are never stored in config files; set it in the environment "
                    "instead (README, 'Secrets')"
                )
            _refuse_secrets(value, where)
    elif isinstance(data, list):
        for i, item in enumerate(data):
            if _has_credentials(item):
                raise ConfigError(f"{path}[{i}]: a URL with a password in it is a secret; set it in the environment")
            _refuse_secrets(item, f"{path}[{i}]")

def parse_settings(data: Any, *, origin: str = "<config>", database_url: str | None = None) -> Settings:
    """Validate already-parsed config data; errors name `origin`, the key path and the reason."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping of settings")
    try:
        _refuse_secrets(data)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    data = dict(data)
    url = database_url or os.environ.get(DATABASE_URL_ENV)
    if url:
        data["database_url"] = url
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = _format_loc(tuple(first["loc"]))
        message = first["msg"].removeprefix("Value error, ")
        where = f"{origin}: {loc}: " if loc else f"{origin}: "
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{where}{message}{more}") from None

#: Config files are small; a bigger one is a mistake or an attack (README, "Security").
MAX_CONFIG_BYTES = 1024 * 1024
#: Nodes a document may expand to once aliases are followed; a YAML "billion laughs" blows far past it.
MAX_EXPANDED_NODES = 10_000
_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
         (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))


def _expanded_size(node: yaml.Node, memo: dict[int, int], active: set[int]) -> int:
    """Count the nodes `node` stands for with every alias expanded; a cycle counts as over the budget."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        return MAX_EXPANDED_NODES + 1
    active.add(key)
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            total += _expanded_size(child, memo, active)
            if total > MAX_EXPANDED_NODES:
                break
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, memo, active) + _expanded_size(v, memo, active)
            if total > MAX_EXPANDED_NODES:
                break
    active.discard(key)
    memo[key] = total
    return total


def _decode(path: Path, raw: bytes) -> str:
    """Decode a config file as UTF-8 (a BOM is allowed) or raise one clear line saying what it is instead."""
    for bom, name in _BOMS:
        if raw.startswith(bom):
            raise ConfigError(f"{path}: the file is {name}; save it as UTF-8")
    if b"\x00" in raw:
        raise ConfigError(f"{path}: the file holds NUL bytes (binary, or UTF-16 without a BOM); save it as UTF-8")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 (byte 0x{raw[exc.start]:02x}); save it as UTF-8") from None


def parse_yaml(text: str, origin: str) -> Any:
    """Parse YAML safely, refusing documents whose aliases expand past `MAX_EXPANDED_NODES` nodes."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}, set()) > MAX_EXPANDED_NODES:
            raise ConfigError(f"{origin}: YAML aliases expand past {MAX_EXPANDED_NODES} nodes; "
                              "write the values out instead of nesting anchors")
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{origin}: {where}invalid YAML: {problem}") from None
    finally:
        loader.dispose()


def load_settings(path: str | Path, *, database_url: str | None = None) -> Settings:
    """Read and validate a YAML config file; precedence is flag > environment > file > default."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: config files are limited to {MAX_CONFIG_BYTES // 1024} KiB")
    data = parse_yaml(_decode(path, raw), str(path))
    return parse_settings(data, origin=str(path), database_url=database_url)
