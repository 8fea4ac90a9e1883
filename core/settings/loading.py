"""Read, check and validate a config file into `Settings`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from core.settings.base import _SECRET_KEY, DATABASE_URL_ENV, ConfigError
from core.settings.model import Settings


def _format_loc(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path

def _refuse_secrets(data: Any, path: str = "") -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if _SECRET_KEY.search(str(key)) and value not in (None, ""):
                raise ConfigError(
                    f"{where}: secrets are never stored in config files; set it in the environment "
                    "instead (README, 'Secrets')"
                )
            _refuse_secrets(value, where)
    elif isinstance(data, list):
        for i, item in enumerate(data):
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

def load_settings(path: str | Path, *, database_url: str | None = None) -> Settings:
    """Read and validate a YAML config file; precedence is flag > environment > file > default."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: {where}invalid YAML: {problem}") from None
    return parse_settings(data, origin=str(path), database_url=database_url)
