"""Stopping the scheduler while a job is running that wakes the next step: the stop finishes, nothing deadlocks.

APScheduler's `shutdown(wait=True)` holds the job-store lock while it waits for running jobs, and a running step
that wakes the next one (`job.modify`) needs that lock, so Ctrl-C at that moment used to hang `brandmon run`.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.scheduler import JOB_DEFAULTS, halt
from tests.support.processes import wait_for


def test_a_stop_while_a_step_wakes_the_next_one_finishes_the_step_and_returns() -> None:
    executor = ThreadPoolExecutor()
    scheduler = BackgroundScheduler(executors={"default": executor}, job_defaults=JOB_DEFAULTS, timezone="UTC")
    running, release, woke = threading.Event(), threading.Event(), threading.Event()

    def step() -> None:
        running.set()
        assert release.wait(300), "the test never released the step"
        job = scheduler.get_job("next")  # what a step that produced work does: wake the next step
        if job is not None:
            job.modify(next_run_time=datetime.now(UTC))
        woke.set()

    # An interval job, as brandmon's steps are: a one-off "date" job is removed from the store after it is
    # submitted, and a stop at that moment makes APScheduler 3 raise JobLookupError in its own thread (shutdown
    # marks the scheduler stopped before it takes the store lock, so remove_job looks among pending jobs only).
    scheduler.add_job(step, "interval", hours=1, next_run_time=datetime.now(UTC), id="step", **JOB_DEFAULTS)
    scheduler.add_job(lambda: None, "interval", hours=1, id="next", **JOB_DEFAULTS)
    scheduler.start()
    wait_for(running.is_set, what="the step starting")
    stopper = threading.Thread(target=lambda: (halt(scheduler), executor.shutdown(wait=True)), daemon=True)
    stopper.start()
    wait_for(lambda: not scheduler.running, what="the scheduler refusing new jobs")
    release.set()
    stopper.join(300)
    assert not stopper.is_alive(), "stopping deadlocked with the running step"
    assert woke.is_set(), "the running step was cut off instead of finishing"
