"""The base of every settings model and the one error a bad config raises."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

DEFAULT_DATABASE_URL = "sqlite:///brandmon.db"
DATABASE_URL_ENV = "BRANDMON_DATABASE_URL"
#: Keys that hold secrets; they are refused in config files so no token ever lands in one.
_SECRET_KEY = re.compile(r"(token|secret|password|passwd|pwd|passphrase|credentials?|api_key|apikey|private_key"
                         r"|client_secret|bearer)$", re.IGNORECASE)
UrgencyLevel = Literal["critical", "high", "normal", "low"]


class ConfigError(Exception):
    """A config file that cannot be used; the message names the file, the key path and the reason."""

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
