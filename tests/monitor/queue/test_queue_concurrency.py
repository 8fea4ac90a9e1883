"""Real worker processes race to claim the same items; exactly one wins each, on SQLite and on PostgreSQL."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.storage import Database
from core.storage.schema import AuditRow, QueueItemRow
from monitor.queue.items import QueueConflict, claim
from tests.support.processes import CAP_S
from tests.support.queue import NOW, post, seed
from tests.support.settings import make_settings

WORKERS = 4
ROUNDS = 40


def _worker(url: str, name: str, item_ids: list[int], barrier: Any, results: Any) -> None:
    """Claim each item in turn, all workers starting each round together; report what was won."""
    db = Database(url)
    won, lost, errors = [], 0, []
    try:
        for round_no, item_id in enumerate(item_ids):
            barrier.wait(timeout=CAP_S)
            # half the rounds race for an item whose earlier claim has just expired
            now = NOW + timedelta(minutes=60 if round_no % 2 else 0)
            try:
                claim(db, item_id, name, now=now, lease_min=30)
                won.append(item_id)
            except QueueConflict:
                lost += 1
            except Exception as exc:  # report anything unexpected to the parent instead of hanging it
                errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        db.dispose()
        results.put((name, won, lost, errors))


def race(url: str) -> tuple[dict[str, list[int]], list[int]]:
    """Seed ROUNDS items and let WORKERS processes race for each; return winners and item ids."""
    db = Database(url)
    db.migrate()
    seeded = seed(db, make_settings(), [post(str(1000 + i), handle=f"user{i}") for i in range(ROUNDS)])
    item_ids = sorted(item_id for _, item_id in seeded.values() if item_id is not None)
    assert len(item_ids) == ROUNDS
    for round_no, item_id in enumerate(item_ids):
        if round_no % 2:
            claim(db, item_id, "earlier-responder", now=NOW, lease_min=30)  # expires before the race
    db.dispose()
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(WORKERS)
    results = context.Queue()
    workers = [context.Process(target=_worker, args=(url, f"w{i}", item_ids, barrier, results))
               for i in range(WORKERS)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=CAP_S) for _ in workers]
    for worker in workers:
        worker.join(timeout=CAP_S)
    errors = [error for _, _, _, errs in outcomes for error in errs]
    assert not errors, errors
    assert sum(lost for _, _, lost, _ in outcomes) == ROUNDS * (WORKERS - 1)
    return {name: won for name, won, _, _ in outcomes}, item_ids


def check_one_winner_each(url: str, winners: dict[str, list[int]], item_ids: list[int]) -> None:
    counts = Counter(item_id for won in winners.values() for item_id in won)
    assert sorted(counts) == item_ids
    assert set(counts.values()) == {1}, "an item was won by more than one worker"
    db = Database(url)
    with db.session() as session:
        owners = dict(session.execute(select(QueueItemRow.id, QueueItemRow.claimed_by)).all())
        claims = Counter(session.execute(
            select(AuditRow.queue_item_id).where(AuditRow.action == "claimed", AuditRow.actor.like("w%"))
        ).scalars())
        total = session.execute(select(func.count()).select_from(AuditRow).where(AuditRow.actor.like("w%"))).scalar()
    db.dispose()
    for name, won in winners.items():
        assert all(owners[item_id] == name for item_id in won)
    assert set(claims.values()) == {1} and sorted(claims) == item_ids
    assert total == ROUNDS  # losers leave no trace


def test_sqlite_processes_never_both_win_a_claim(sqlite_url: str) -> None:
    winners, item_ids = race(sqlite_url)
    check_one_winner_each(sqlite_url, winners, item_ids)


@pytest.mark.postgres
def test_postgresql_processes_never_both_win_a_claim(postgres_url: str) -> None:
    winners, item_ids = race(postgres_url)
    check_one_winner_each(postgres_url, winners, item_ids)
