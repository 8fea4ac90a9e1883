"""Helpers shared by the drill, fuzz, worker and bench tests: a hand-moved clock, streams, settings, counts."""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from alerts.slack import SlackNotifier
from alerts.slack_loopback import SlackLoopback
from core.domain import Batch
from core.settings import Settings
from core.storage import Database
from core.storage.schema import ClassificationRow, MentionRow, OutboxRow, RoutingRow
from models.lexicon import LexiconClassifier
from monitor.bench import bench_settings
from monitor.bench.synthetic import write_mentions
from monitor.pipeline import Pipeline, build_sources
from sources.replay import ReplaySource
from tests.support.clock import Clock
from tests.support.loopback_http import LoopbackHttp


def streams(tmp_path: Path, *, sources: int = 1, per_source: int = 60) -> list[Path]:
    """Write `sources` synthetic stream files with distinct ids."""
    return [write_mentions(tmp_path / f"stream-{i}.jsonl", per_source, seed=i, prefix=f"s{i}") for i in range(sources)]


def settings_for(url: str, files: list[Path], *, slack_url: str = "https://slack.invalid/api/", batch_size: int = 25,
                 slack_enabled: bool = True, **extra: Any) -> Settings:
    """Return bench-shaped settings over `files`, with pacing off so tests never wait on it."""
    return bench_settings(database_url=url, streams=files, slack_base_url=slack_url, slack_enabled=slack_enabled,
                          batch_size=batch_size, messages_per_second=1000, extra=extra or None)


def make_pipeline(db: Database, settings: Settings, clock: Clock, *, slack_url: str | None = None,
                  sources: dict[str, Any] | None = None) -> Pipeline:
    """Build a pipeline with the lexicon model, a Slack notifier aimed at `slack_url`, and `clock`."""
    if sources is None:
        sources, errors = build_sources(settings)
        assert not errors
    notifiers = {"slack": SlackNotifier(token="xoxb-test", base_url=slack_url or settings.slack.base_url, timeout_s=2)}
    pipeline = Pipeline(settings, db, classifier=LexiconClassifier(), sources=sources, notifiers=notifiers, clock=clock)
    pipeline.deliverer.sleep = lambda _s: None
    return pipeline


def drain(pipeline: Pipeline) -> None:
    """Poll every source to its end, then classify, route and deliver everything."""
    active = set(pipeline.sources)
    while active:
        for name in sorted(active):
            outcome = pipeline.poll(name)
            assert outcome.error is None, outcome.error
            if outcome.exhausted:
                active.discard(name)
    pipeline.classify()
    pipeline.route()
    while pipeline.deliver():
        pass


def line_count(files: list[Path]) -> int:
    """Return how many records the stream files hold."""
    return sum(1 for path in files for line in path.open(encoding="utf-8") if line.strip())


def table_counts(db: Database) -> dict[str, int]:
    """Return how many mentions, classifications, routings and outbox rows (by status) there are."""
    with db.session() as session:
        counts = {
            "mentions": session.execute(select(func.count()).select_from(MentionRow)).scalar_one(),
            "distinct": session.execute(select(func.count(func.distinct(MentionRow.external_id)))).scalar_one(),
            "classified": session.execute(select(func.count()).select_from(ClassificationRow)).scalar_one(),
            "routed": session.execute(select(func.count()).select_from(RoutingRow)).scalar_one(),
        }
        for status, n in session.execute(select(OutboxRow.status, func.count()).group_by(OutboxRow.status)).all():
            counts[f"outbox_{status}"] = n
    return counts


def slack_keys(slack: SlackLoopback) -> Counter[str]:
    """Count the messages the loopback Slack received, by outbox dedupe key."""
    return Counter(m["metadata"]["event_payload"]["dedupe_key"] for m in slack.all_messages()
                   if (m.get("metadata") or {}).get("event_payload"))


def outbox_keys(db: Database, kind: str = "slack") -> set[str]:
    """Return the dedupe keys of every outbox row of `kind`."""
    with db.session() as session:
        return set(session.execute(select(OutboxRow.dedupe_key).where(OutboxRow.kind == kind)).scalars().all())


class PollJournal:
    """Where recording sources note each poll's start and end on one shared tick counter."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, int, int]] = []
        self._lock = threading.Lock()
        self._tick = 0

    def tick(self) -> int:
        """Return the next tick."""
        with self._lock:
            self._tick += 1
            return self._tick

    def add(self, entry: tuple[str, str, int, int]) -> None:
        """Record one finished poll."""
        with self._lock:
            self.entries.append(entry)

    def overlaps(self) -> list[tuple[tuple[str, str, int, int], tuple[str, str, int, int]]]:
        """Return pairs of polls of the same source that ran at the same time."""
        found = []
        ordered = sorted(self.entries, key=lambda e: (e[0], e[2]))
        for first, second in itertools.pairwise(ordered):
            if first[0] == second[0] and second[2] < first[3]:
                found.append((first, second))
        return found


class RecordingSource(ReplaySource):
    """A replay source that notes when each poll began and ended, to prove polls of one source never overlap."""

    def __init__(self, *, worker: str, journal: PollJournal, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.worker = worker
        self.journal = journal

    def poll(self, cursor: str | None) -> Batch:
        """Poll the file, recording a (source, worker, start tick, end tick) entry around it."""
        start = self.journal.tick()
        try:
            return super().poll(cursor)
        finally:
            self.journal.add((self.name, self.worker, start, self.journal.tick()))


@dataclass
class Canned:
    """One answer a `FaultyServer` gives instead of (or, with `forward`, after) the upstream's."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    #: Never answer: the client's own timeout ends the request (the server is released at stop()).
    hang: bool = False
    #: Pass the request upstream first (it arrives there), then answer with this canned reply or hang.
    forward: bool = False


class FaultyServer:
    """A loopback HTTP server that answers queued canned faults first, then forwards to `upstream` (if any)."""

    def __init__(self, *, upstream: str | None = None) -> None:
        self.upstream = upstream.rstrip("/") if upstream else None
        self.queue: list[Canned] = []
        self.requests: list[tuple[str, str]] = []
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._http = LoopbackHttp(self._answer)

    @property
    def base_url(self) -> str:
        """Return http://127.0.0.1:port (no trailing slash)."""
        return self._http.base_url

    def _answer(self, request: httpx.Request) -> httpx.Response | None:
        method, path, body = request.method, request.url.raw_path.decode("ascii"), request.content
        headers = dict(request.headers.items())
        with self._lock:
            self.requests.append((method, path))
            canned = self.queue.pop(0) if self.queue else None
        if canned is not None and canned.forward and self.upstream:
            self._forward(method, path, body, headers)
        if canned is not None and canned.hang:
            self._release.wait(30)
            return None  # the connection drops unanswered
        if canned is not None:
            return httpx.Response(canned.status, content=canned.body, headers=canned.headers)
        if self.upstream is None:
            return httpx.Response(503, text="nothing queued")
        status, data, answered = self._forward(method, path, body, headers)
        return httpx.Response(status, content=data, headers=answered)

    def _forward(self, method: str, path: str, body: bytes,
                 headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        assert self.upstream is not None
        keep = {k: v for k, v in headers.items() if k.lower() in ("content-type", "authorization")}
        request = urllib.request.Request(self.upstream + path, data=body or None, headers=keep, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read(), dict(response.headers.items())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers.items())

    def __enter__(self) -> FaultyServer:
        self._http.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._http.__exit__(*exc)


def free_port() -> int:
    """Return a loopback port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TcpProxy:
    """Forward a loopback port to a server (PostgreSQL); `down()` refuses and cuts every connection, `up()` restores."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> TcpProxy:
        """Listen again on the same port."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def down(self) -> None:
        """Stop listening and cut every open connection, as a database host that went away."""
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked in another thread
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._open += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
