"""A SIGHUP reload runs beside the jobs: a slow build never blocks the caller, and a second SIGHUP is ignored."""

from __future__ import annotations

import threading
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from monitor.scheduler import start_reload


def test_reload_runs_in_a_thread_and_keeps_the_running_config_on_error() -> None:
    release, started = threading.Event(), threading.Event()

    def slow_broken_build() -> Any:
        started.set()
        assert release.wait(60), "the test never released the build"
        raise ValueError("broken file")

    current = object()
    running: list[Any] = [current]
    lock = threading.Lock()
    scheduler = BackgroundScheduler()
    thread = start_reload(scheduler, running, slow_broken_build, lock)
    assert thread is not None and started.wait(60)  # the caller got control back while the build is still running
    assert start_reload(scheduler, running, slow_broken_build, lock) is None  # a second SIGHUP is ignored
    release.set()
    thread.join(60)
    assert not thread.is_alive() and running[0] is current and not lock.locked()
