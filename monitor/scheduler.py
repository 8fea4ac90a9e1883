"""APScheduler 3.x jobs: one per source and one per downstream step, each coalesced and never overlapping."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from monitor.pipeline import Pipeline

log = logging.getLogger(__name__)

#: A tick or a wake-up that finds its step still running must not reach APScheduler's own instance limit (it logs
#: a WARNING for each: "skipped: maximum number of running instances reached"); `_guarded` keeps steps from
#: overlapping instead, and runs a step once more when it was asked for while running.
JOB_DEFAULTS = {"coalesce": True, "max_instances": 4, "misfire_grace_time": 30}


class _StepState:
    """One job id's run lock, and whether it was asked to run again while it was running."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.again = False


def _states(scheduler: BaseScheduler) -> dict[str, _StepState]:
    """Return the step states of `scheduler`, shared by the jobs a reload replaces and their replacements."""
    states: dict[str, _StepState] = scheduler.__dict__.setdefault("brandmon_step_states", {})
    return states


def _guarded(name: str, step: Callable[[], Any], then: Callable[[], None] | None = None, *,
             state: _StepState | None = None) -> Callable[[], None]:
    """Wrap a step so an error is logged and the scheduler keeps running; wake the next step on output.

    A call while the step is running returns at once and makes the running one go round once more.
    """
    state = state if state is not None else _StepState()

    def once() -> None:
        try:
            result = step()
        except Exception:
            log.exception("job %s failed; it runs again on its next tick", name)
            return
        produced = result if isinstance(result, int) else getattr(result, "stored", 0)
        if produced and then is not None:
            then()

    def run() -> None:
        if not state.lock.acquire(blocking=False):
            state.again = True
            return
        try:
            state.again = False
            once()
            while state.again:
                state.again = False
                once()
        finally:
            state.lock.release()

    return run


def add_jobs(scheduler: BaseScheduler, pipeline: Pipeline) -> list[str]:
    """Add the pipeline's jobs to `scheduler`; return their ids."""
    intervals = pipeline.settings.scheduler
    states = _states(scheduler)

    def guarded(job_id: str, step: Callable[..., Any], then: Callable[[], None] | None = None) -> Callable[[], None]:
        return _guarded(job_id, step, then, state=states.setdefault(job_id, _StepState()))

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
        scheduler.add_job(guarded(job_id, lambda n=config.name: pipeline.poll(n), wake("classify")),
                          "interval", seconds=config.poll_interval_s, id=job_id, name=job_id,
                          next_run_time=datetime.now().astimezone(), **JOB_DEFAULTS)
        ids.append(job_id)
        source = pipeline.sources[config.name]
        if callable(getattr(source, "deleted_among", None)):  # Reddit's terms: purge what was deleted there
            sweep_id = f"sweep:{config.name}"
            scheduler.add_job(guarded(sweep_id, lambda n=config.name: pipeline.sweep(n)), "interval",
                              seconds=float(getattr(source, "sweep_interval_s", 3600.0)), id=sweep_id,
                              name=sweep_id, **JOB_DEFAULTS)
            ids.append(sweep_id)
    steps = [
        ("classify", pipeline.classify, intervals.classify_interval_s, wake("route")),
        ("route", pipeline.route, intervals.route_interval_s, wake("deliver")),
        ("deliver", pipeline.deliver, intervals.deliver_interval_s, None),
    ]
    for job_id, step, interval_s, then in steps:
        scheduler.add_job(guarded(job_id, step, then), "interval", seconds=interval_s, id=job_id, name=job_id,
                          **JOB_DEFAULTS)
        ids.append(job_id)
    spikes = pipeline.settings.slack.spikes
    if pipeline.settings.slack.enabled and spikes.channel is not None:
        scheduler.add_job(guarded("spikes", pipeline.detect_spikes, wake("deliver")), "interval",
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
    states = _states(scheduler)
    scheduler.add_job(_guarded("digest", weekly, then, state=states.setdefault("digest", _StepState())), trigger,
                      id="digest", name="digest",
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


def start_reload(scheduler: BaseScheduler, running: list[Pipeline], build: Callable[[], Pipeline],
                 lock: threading.Lock) -> threading.Thread | None:
    """Reload in a thread, so a slow or hostile config never blocks the jobs or SIGTERM; None while one runs."""
    if not lock.acquire(blocking=False):
        log.warning("SIGHUP while a reload is still running; ignored")
        return None

    def work() -> None:
        try:
            running[0] = reload_jobs(scheduler, running[0], build)
        finally:
            lock.release()

    thread = threading.Thread(target=work, name="brandmon-reload", daemon=True)
    thread.start()
    return thread


def halt(scheduler: BaseScheduler) -> None:
    """Stop `scheduler` from starting jobs, without waiting for the running ones (their owner joins its executor)."""
    with contextlib.suppress(SchedulerNotRunningError):
        scheduler.shutdown(wait=False)


def run_forever(pipeline: Pipeline, *, reload: Callable[[], Pipeline] | None = None) -> None:
    """Run the scheduler in the foreground until Ctrl-C or SIGTERM; SIGHUP reloads the config via `reload`.

    The signal handlers only start threads. Stopping inside a handler could deadlock: APScheduler's `shutdown`
    holds its job-store lock while it waits for running jobs, and a running job that wakes the next step needs that
    lock; and the handler may interrupt the main loop while it holds its own event's lock. So the scheduler is
    stopped without waiting, and the running jobs are then joined here, outside every scheduler lock.
    """
    executor = ThreadPoolExecutor()
    scheduler = BlockingScheduler(executors={"default": executor}, job_defaults=JOB_DEFAULTS, timezone="UTC")
    add_jobs(scheduler, pipeline)
    running = [pipeline]
    reloading = threading.Lock()

    def stop(signum: int, _frame: Any) -> None:
        log.info("received %s; finishing running jobs and stopping", signal.Signals(signum).name)
        threading.Thread(target=halt, args=(scheduler,), name="brandmon-stop", daemon=True).start()

    def hangup(_signum: int, _frame: Any) -> None:
        # the handler only starts a thread: parsing and building run beside the jobs, and SIGTERM stays answered
        if reload is not None:
            start_reload(scheduler, running, reload, reloading)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, hangup)
    try:
        scheduler.start()
    except KeyboardInterrupt:  # a Ctrl-C that arrived before the handler above was installed
        halt(scheduler)
    executor.shutdown(wait=True)
    log.info("scheduler stopped")
