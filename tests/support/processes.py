"""Subprocesses that tests own: each is killed (its whole process group) when the test ends, pass or fail.

Output goes to files, never to pipes a busy test could forget to drain, and tests wait for conditions (a line
in the output, rows in the database) with `wait_for` and a generous cap, never for a fixed wall-clock budget.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

#: How long a condition may take on a machine where other jobs hold every core.
CAP_S = 300.0


def wait_for(condition: Callable[[], object], *, cap_s: float = CAP_S, every_s: float = 0.1,
             what: str = "the condition") -> None:
    """Poll `condition` until it is true; fail (AssertionError naming `what`) only after `cap_s`."""
    deadline = time.monotonic() + cap_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {cap_s:.0f} s")
        time.sleep(every_s)


def _default_sigint() -> None:
    """In the child: take Ctrl-C as a terminal would, even when the suite runs in the background (SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Child:
    """One owned subprocess, with its stdout and stderr in files."""

    def __init__(self, process: subprocess.Popen[bytes], out: Path, err: Path) -> None:
        self.process = process
        self.out_path, self.err_path = out, err

    @property
    def pid(self) -> int:
        """Return the child's pid (also its process group id)."""
        return self.process.pid

    def stdout(self) -> str:
        """Return what the child wrote to stdout so far."""
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        """Return what the child wrote to stderr so far."""
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        """Return True while the child runs."""
        return self.process.poll() is None

    def send(self, signum: int) -> None:
        """Send `signum` to the child."""
        if self.alive():
            self.process.send_signal(signum)

    def stop(self, signum: int = signal.SIGINT, *, cap_s: float = CAP_S) -> int:
        """Ask the child to stop with `signum`, wait for it (up to `cap_s`), then kill its group; return its status."""
        self.send(signum)
        try:
            return self.process.wait(timeout=cap_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"pid {self.pid} did not stop within {cap_s:.0f} s of {signal.Signals(signum).name}") from None

    def kill(self) -> None:
        """SIGKILL the child's whole process group and reap it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=60)


class Processes:
    """Start subprocesses in their own process groups and kill whatever is left of them at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.children: list[Child] = []

    def start(self, args: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> Child:
        """Start `args` with its output in files; the owner kills it at the end of the test."""
        self.folder.mkdir(parents=True, exist_ok=True)
        number = len(self.children)
        out, err = self.folder / f"{number}.out", self.folder / f"{number}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(list(args), env=env, cwd=cwd, stdout=stdout, stderr=stderr,
                                       stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_default_sigint)
        child = Child(process, out, err)
        self.children.append(child)
        return child

    def kill_all(self) -> None:
        """Kill every child (and its group) still running."""
        for child in self.children:
            child.kill()


__all__ = ["CAP_S", "Child", "Processes", "wait_for"]
