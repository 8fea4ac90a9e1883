"""Keep a Bluesky session between runs in a file only its owner can read, so a restart does not log in again.

Bluesky allows 30 `createSession` calls per 5 minutes (300 a day) per account, so the session string (its access
and refresh tokens) is written to `options.session_file`, by default
`$XDG_STATE_HOME/brandmon/bluesky-<source>.session` (`~/.local/state/brandmon/...`), with mode 0600 in a 0700
folder. It is a secret: the file is written atomically, its content never reaches a log, and a file readable by
others is tightened before it is used. The file remembers which account and service it belongs to, so changing
`BRANDMON_BLUESKY_HANDLE` or `service_url` starts a new session instead of reusing the old account's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import stat
from pathlib import Path
from typing import Any

from core.redact import register_secrets

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def default_session_path(source_name: str) -> Path:
    """Where a source keeps its session when `options.session_file` is not set."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "brandmon" / f"bluesky-{_UNSAFE.sub('_', source_name)}.session"


def session_path(source_name: str, option: Any) -> Path | None:
    """The session file for `options.session_file`: a path, unset for the default, or false to keep none."""
    if option is False:
        return None
    if option is None or option == "":
        return default_session_path(source_name)
    return Path(str(option)).expanduser()


def _register(session_string: str) -> None:
    """Redact the session and both of its tokens from every log line from now on."""
    register_secrets([session_string, *session_string.split(":::")[2:4]])


class SessionFile:
    """Read, write and forget one source's kept session; every failure is logged, never raised."""

    def __init__(self, path: Path | None, *, identifier: str, service: str) -> None:
        self.path = path
        self.identifier = identifier.lower()
        self.service = service

    def load(self) -> str | None:
        """Return the kept session string for this account and service, or None."""
        if self.path is None:
            return None
        try:
            mode = self.path.stat().st_mode
            if stat.S_IMODE(mode) & 0o077:
                log.warning("bluesky session file %s was readable by others; it is now 0600", self.path)
                self.path.chmod(0o600)
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("bluesky session file %s cannot be read (%s); logging in again", self.path,
                        type(exc).__name__)
            return None
        session = data.get("session") if isinstance(data, dict) else None
        if not isinstance(session, str) or not session:
            return None
        _register(session)
        if str(data.get("identifier", "")).lower() != self.identifier or data.get("service") != self.service:
            log.info("bluesky session file %s belongs to another account or service; logging in again", self.path)
            return None
        return session

    def save(self, session_string: str) -> None:
        """Write the session atomically with mode 0600 (in a 0700 folder)."""
        _register(session_string)
        if self.path is None:
            return
        body = json.dumps({"identifier": self.identifier, "service": self.service, "session": session_string})
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(fd, 0o600)  # O_CREAT's mode is masked by the umask and ignored for an existing file
                os.write(fd, body.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temporary, self.path)
        except OSError as exc:
            log.warning("bluesky session cannot be kept in %s (%s); the next start logs in again", self.path,
                        exc.strerror or type(exc).__name__)
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)

    def forget(self) -> None:
        """Delete the kept session (the server refused it)."""
        if self.path is not None:
            try:
                self.path.unlink(missing_ok=True)
            except OSError as exc:
                log.warning("bluesky session file %s cannot be removed (%s)", self.path, exc.strerror)
