"""Normal running logs nothing above INFO: a step asked to run while it runs goes round again, without a warning."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.scheduler import JOB_DEFAULTS, _guarded, _StepState


def wait_for(condition: object, *, cap_s: float = 60.0) -> None:
    """Poll `condition` until it holds, failing only after a generous cap."""
    deadline = time.monotonic() + cap_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.02)


def test_a_call_while_running_is_run_once_more_not_overlapped() -> None:
    started, release, runs, overlap = threading.Event(), threading.Event(), [], []
    running = threading.Lock()

    def step() -> int:
        if not running.acquire(blocking=False):
            overlap.append(1)
            return 0
        try:
            runs.append(1)
            started.set()
            release.wait(60)
        finally:
            running.release()
        return 0

    job = _guarded("route", step, state=_StepState())
    first = threading.Thread(target=job)
    first.start()
    assert started.wait(60)
    job()  # asked again while running: returns at once
    job()
    release.set()
    first.join(60)
    assert not overlap and len(runs) == 2  # the running one went round once more for both requests


def test_a_busy_scheduler_logs_no_warnings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    scheduler = BackgroundScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")
    calls: list[float] = []

    def slow() -> int:
        calls.append(time.monotonic())
        time.sleep(0.3)  # longer than the interval: every tick meets a running step
        return 0

    job = _guarded("classify", slow, state=_StepState())
    scheduler.add_job(job, "interval", seconds=0.1, id="classify", **JOB_DEFAULTS)
    kicker = _guarded("wake", lambda: 0, state=_StepState())
    scheduler.add_job(kicker, "interval", seconds=0.05, id="wake", **JOB_DEFAULTS)
    scheduler.start()
    try:
        wait_for(lambda: len(calls) >= 4)
    finally:
        scheduler.shutdown(wait=True)
    loud = [r for r in caplog.records if r.levelno > logging.INFO]
    assert not loud, [r.getMessage() for r in loud]
