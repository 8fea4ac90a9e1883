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
        source = pipeline.sources[config.name]
        if callable(getattr(source, "deleted_among", None)):  # Reddit's terms: purge what was deleted there
            sweep_id = f"sweep:{config.name}"
            scheduler.add_job(_guarded(sweep_id, lambda n=config.name: pipeline.sweep(n)), "interval",
                              seconds=float(getattr(source, "sweep_interval_s", 3600.0)), id=sweep_id,
                              name=sweep_id, **JOB_DEFAULTS)
            ids.append(sweep_id)
    steps = [
        ("classify", pipeline.classify, intervals.classify_interval_s, wake("route")),
        ("route", pipeline.route, intervals.route_interval_s, wake("deliver")),
        ("deliver", pipeline.deliver, intervals.deliver_interval_s, None),
    ]
    for job_id, step, interval_s, then in steps:
        scheduler.add_job(_guarded(job_id, step, then), "interval", seconds=interval_s, id=job_id, name=job_id,
                          **JOB_DEFAULTS)
        ids.append(job_id)
    spikes = pipeline.settings.slack.spikes
    if pipeline.settings.slack.enabled and spikes.channel is not None:
        scheduler.add_job(_guarded("spikes", pipeline.detect_spikes, wake("deliver")), "interval",
                          seconds=spikes.interval_s, id="spikes", name="spikes", **JOB_DEFAULTS)
        ids.append("spikes")
    if pipeline.settings.digest.enabled:
        ids.append(add_digest_job(scheduler, pipeline, then=wake("deliver")))
    return ids


def add_digest_job(scheduler: BaseScheduler, pipeline: Pipeline, *, then: Callable[[], None] | None = None) -> str:
    """Add the weekly digest job: each own brand's report for the week just ended, summary via the outbox."""
    from apscheduler.triggers.cron import CronTrigger

    options = pipeline.settings.digest
    hour, minute = (int(part) for part in options.schedule_time.split(":"))

    def weekly() -> int:
        from monitor.digest.job import run_weekly

        results = run_weekly(pipeline.settings, pipeline.db, now=pipeline.clock())
        return sum(result.outbox_id is not None for result in results)

    trigger = CronTrigger(day_of_week=options.schedule_day, hour=hour, minute=minute, timezone=options.timezone)
    # a weekly report is still worth making hours late (the process was down at the time), once
    scheduler.add_job(_guarded("digest", weekly, then), trigger, id="digest", name="digest",
                      **{**JOB_DEFAULTS, "misfire_grace_time": 12 * 3600})
    return "digest"


def reload_jobs(scheduler: BaseScheduler, current: Pipeline, build: Callable[[], Pipeline]) -> Pipeline:
    """Swap the jobs to a pipeline built from the config file again; on any error keep `current` running.

    A job still running keeps its id's instance count in the executor, so its replacement never overlaps it.
    """
    try:
        pipeline = build()
    except Exception as exc:  # a broken file must not stop what is running
        log.error("config reload failed; the previous config keeps running: %s", exc)
        return current
    scheduler.pause()
    try:
        scheduler.remove_all_jobs()
        try:
            ids = add_jobs(scheduler, pipeline)
        except Exception as exc:
            log.error("config reload failed while adding jobs; the previous config keeps running: %s", exc)
            scheduler.remove_all_jobs()
            add_jobs(scheduler, current)
            return current
    finally:
        scheduler.resume()
    log.warning("config reloaded: %d sources, %d jobs", len(pipeline.sources), len(ids))
    return pipeline


def run_forever(pipeline: Pipeline, *, reload: Callable[[], Pipeline] | None = None) -> None:
    """Run the scheduler in the foreground until Ctrl-C or SIGTERM; SIGHUP reloads the config via `reload`."""
    scheduler = BlockingScheduler(job_defaults=JOB_DEFAULTS, timezone="UTC")
    add_jobs(scheduler, pipeline)
    running = [pipeline]

    def stop(signum: int, _frame: Any) -> None:
        log.info("received %s; finishing running jobs and stopping", signal.Signals(signum).name)
        scheduler.shutdown(wait=True)

    def hangup(_signum: int, _frame: Any) -> None:
        if reload is not None:
            running[0] = reload_jobs(scheduler, running[0], reload)

    signal.signal(signal.SIGTERM, stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, hangup)
    try:
        scheduler.start()
    except KeyboardInterrupt:
        scheduler.shutdown(wait=True)
    log.info("scheduler stopped")
