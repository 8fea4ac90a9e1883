"""APScheduler 3.x jobs: one per source and one per downstream step, each coalesced and never overlapping."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from monitor.pipeline import Pipeline

log = logging.getLogger(__name__)

JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}


def _guarded(name: str, step: Callable[[], Any], then: Callable[[], None] | None = None) -> Callable[[], None]:
    """Wrap a step so an error is logged and the scheduler keeps running; wake the next step on output."""

    def run() -> None:
        try:
            result = step()
        except Exception:
            log.exception("job %s failed; it runs again on its next tick", name)
            return
        produced = result if isinstance(result, int) else getattr(result, "stored", 0)
        if produced and then is not None:
            then()

    return run


def add_jobs(scheduler: BaseScheduler, pipeline: Pipeline) -> list[str]:
    """Add the pipeline's jobs to `scheduler`; return their ids."""
    intervals = pipeline.settings.scheduler

    def wake(job_id: str) -> Callable[[], None]:
        def kick() -> None:
            job = scheduler.get_job(job_id)
            if job is not None:
                job.modify(next_run_time=datetime.now(job.trigger.timezone))

        return kick

    ids = []
    for config in pipeline.settings.sources:
        if config.name not in pipeline.sources:
            continue
        job_id = f"poll:{config.name}"
        scheduler.add_job(_guarded(job_id, lambda n=config.name: pipeline.poll(n), wake("classify")),
                          "interval", seconds=config.poll_interval_s, id=job_id, name=job_id,
                          next_run_time=datetime.now().astimezone(), **JOB_DEFAULTS)
        ids.append(job_id)
    steps = [
        ("classify", pipeline.classify, intervals.classify_interval_s, wake("route")),
        ("route", pipeline.route, intervals.route_interval_s, wake("deliver")),
        ("deliver", pipeline.deliver, intervals.deliver_interval_s, None),
    ]
    for job_id, step, interval_s, then in steps:
        scheduler.add_job(_guarded(job_id, step, then), "interval", seconds=interval_s, id=job_id, name=job_id,
                          **JOB_DEFAULTS)
        ids.append(job_id)
    return ids


def run_forever(pipeline: Pipeline) -> None:
    """Run the scheduler in the foreground until Ctrl-C or SIGTERM, then stop cleanly."""
    scheduler = BlockingScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")
    add_jobs(scheduler, pipeline)

    def stop(signum: int, _frame: Any) -> None:
        log.info("received %s; finishing running jobs and stopping", signal.Signals(signum).name)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    try:
        scheduler.start()
    except KeyboardInterrupt:
        scheduler.shutdown(wait=True)
    log.info("scheduler stopped")
