"""Tables that let several `brandmon worker` processes share the work: task leases and worker heartbeats."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.schema import Base


class WorkerTaskRow(Base):
    """One singleton task ("poll:<source>", "route", "deliver"); a lease says which worker runs it now."""

    __tablename__ = "worker_tasks"
    __table_args__ = (Index("ix_worker_tasks_due", "next_run_at"),)

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    interval_s: Mapped[float] = mapped_column(Float)
    next_run_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    last_run_at: Mapped[datetime | None]
    last_owner: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    runs: Mapped[int] = mapped_column(Integer, default=0)


class WorkerRow(Base):
    """A worker process: where it runs, when it was last seen, and how much it did."""

    __tablename__ = "workers"

    worker_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    seen_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]
    tasks_run: Mapped[int] = mapped_column(Integer, default=0)
    classified: Mapped[int] = mapped_column(Integer, default=0)
