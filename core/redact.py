"""Keep secrets out of every log line, whichever library writes it.

`RedactingFilter` rewrites each record before a handler formats it: configured secret values (every
`BRANDMON_*` credential, and any value registered with `register_secrets`) become `[REDACTED]`, and so does any
`Authorization`/`Proxy-Authorization` header value, any `Bearer ...` token, any `OAuth ...` header and the
`oauth_*`, `access_token`, `client_secret`, `password` and `refresh_token` parameters of a query string or form
body. `install_redaction` puts the filter on every handler of every logger that exists, so tweepy's, praw's,
urllib3's and httpx's debug output is covered too.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

REDACTED = "[REDACTED]"
#: Secrets shorter than this are not replaced on their own (a 2-character value would redact half the log).
MIN_SECRET_LENGTH = 4

_PATTERNS = (
    # "Authorization: Bearer x", "'Authorization': 'OAuth oauth_nonce=...'", "authorization=..."
    re.compile(r"""((?:proxy-)?authorization'\s*[:=]\s*')[^']*""", re.IGNORECASE),
    re.compile(r"""((?:proxy-)?authorization"\s*[:=]\s*")[^"]*""", re.IGNORECASE),
    re.compile(r"""((?:proxy-)?authorization\s*[:=]\s*)[^\s'"][^\r\n]*""", re.IGNORECASE),
    re.compile(r"""(\bbearer\s+)[A-Za-z0-9._~+/=%-]+""", re.IGNORECASE),
    re.compile(r"""(\bOAuth\s+)(?!oauth_)[A-Za-z0-9._~+/=%-]+"""),
    re.compile(r"""(\b(?:basic)\s+)[A-Za-z0-9+/=]{8,}""", re.IGNORECASE),
    re.compile(r"""(\b(?:oauth_[a-z_]+|access_token|refresh_token|client_secret|password|passwd|token)"""
               r"""['"]?\s*[=:,]\s*\(?\s*['"]?)[^&'"\s,)}]+""", re.IGNORECASE),
    # credentials inside a URL: scheme://user:password@host
    re.compile(r"""([a-z][a-z0-9+.-]*://[^/@\s:]*:)[^/@\s]+(?=@)""", re.IGNORECASE),
)

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secrets(values: Iterable[str | None]) -> None:
    """Add secret values to redact from every log record from now on."""
    with _lock:
        _secrets.update(v for v in values if v and len(v) >= MIN_SECRET_LENGTH)


def registered_secrets() -> frozenset[str]:
    """Return the secret values redacted so far (for tests)."""
    with _lock:
        return frozenset(_secrets)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return `text` with header credentials, token parameters and every known secret replaced."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    with _lock:
        known = set(_secrets)
    known.update(s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH)
    for secret in sorted(known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter that formats the record's message and traceback once, redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite `record` in place; never drops a record."""
        if getattr(record, "_brandmon_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a library's bad format string: keep what is there, redacted
            message = f"{record.msg!r} {record.args!r}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._brandmon_redacted = True
        return True


_FILTER = RedactingFilter()


def _handlers() -> Iterable[logging.Handler]:
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [lg for lg in list(logging.Logger.manager.loggerDict.values()) if isinstance(lg, logging.Logger)]
    for logger in loggers:
        yield from list(logger.handlers)
    if logging.lastResort is not None:
        yield logging.lastResort


def install_redaction(secrets: Iterable[str | None] = ()) -> RedactingFilter:
    """Register `secrets` and put the redacting filter on every handler that exists now; return the filter."""
    register_secrets(secrets)
    for handler in _handlers():
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    return _FILTER


def uninstall_redaction() -> None:
    """Take the filter off every handler again (for tests that install it around one run)."""
    for handler in _handlers():
        handler.removeFilter(_FILTER)
