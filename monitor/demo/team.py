"""The demo's social team: three named responders who work the reply queue through the same calls a person makes.

Each queue item is planned when it appears: who takes it (someone who speaks the post's language when the team
has one), when (a reaction time that grows with lower urgency, inside that person's working hours, after what
they are already doing) and what they do. Then, at that moment of the week, the responder claims the item, opens
its thread (`mark_seen`), writes a personal reply and queues it (`queue_reply`); the outbox posts it through the
post's source, as it posts any reply. Praise gets the configured thank-you; spam and reposts are marked not
relevant; X posts that do not summon the brand are answered in X's app and marked replied; items are resolved
when the customer confirms or after a while. Everything is drawn from a seeded generator per post, so a run
is the same every time, relative to its "now".
"""

from __future__ import annotations

import heapq
import random
import secrets
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.domain import ReplyPath
from core.durations import format_minutes
from core.settings import Settings
from core.storage import Database
from core.storage.schema import MentionRow, QueueItemRow, ReplyRow
from core.textsafe import cut, for_terminal
from monitor.demo.network import DemoNetwork, SimClock
from monitor.demo.wording import compose, speaks
from monitor.queue.context import mark_seen
from monitor.queue.items import QueueError, claim, set_status
from monitor.queue.replies import ThreadChanged, queue_reply, render_saved_reply, thank_template


@dataclass(frozen=True, slots=True)
class Responder:
    """One person on the team: a login, the languages they answer in, their working hours."""

    username: str
    name: str
    languages: frozenset[str]
    #: Weekday (0 = Monday) -> (start, end) hours on the stream's own clock (the story's UK time).
    hours: Mapping[int, tuple[float, float]]

    def on_duty_from(self, story: datetime) -> datetime | None:
        """Return the first moment at or after `story` (story clock) when this person is working."""
        day = story.replace(hour=0, minute=0, second=0, microsecond=0)
        for offset in range(8):
            start_h, end_h = self.hours.get((day + timedelta(days=offset)).weekday(), (0.0, 0.0))
            opens = day + timedelta(days=offset, hours=start_h)
            closes = day + timedelta(days=offset, hours=end_h)
            if closes > story and closes > opens:
                return max(story, opens)
        return None


def _days(days: range | tuple[int, ...], start: float, end: float) -> dict[int, tuple[float, float]]:
    return {day: (start, end) for day in days}


#: Between them the three cover 07:30 to 22:30 every day of the story's week (22:00 on Sunday); nights wait.
TEAM: tuple[Responder, ...] = (
    Responder("amira", "Amira", frozenset({"en", "fr"}), _days(range(5), 7.5, 16.0)),
    Responder("josh", "Josh", frozenset({"en", "de"}),
              {**_days(range(4), 13.0, 22.5), **_days((5,), 8.0, 17.0), **_days((6,), 14.0, 22.0)}),
    Responder("marta", "Marta", frozenset({"en", "es", "pt"}),
              {**_days((1, 2, 3), 9.0, 17.5), **_days((4, 5), 13.5, 22.5), **_days((6,), 8.0, 16.0)}),
)
#: Minutes from seeing an item to starting on it, by urgency level (uniform between the two).
REACTION_MIN = {"critical": (2.0, 10.0), "high": (5.0, 35.0), "normal": (10.0, 120.0), "low": (20.0, 360.0)}
#: Minutes the work itself takes, by what is done.
HANDLING_MIN = {"answer": (1.0, 4.0), "thank": (0.5, 1.5), "welcome": (0.5, 1.5), "dismiss": (0.2, 0.8)}
#: Share of items nobody gets to this week, by what they need (the rest of the queue is worked).
LEFT_ALONE = {"answer": 0.01, "thank": 0.05, "welcome": 0.05, "dismiss": 0.05}
#: Now and then someone is tied up: this share of reactions take this many times longer.
BUSY_SHARE, BUSY_FACTOR = 0.08, 2.5


@dataclass(order=True)
class _Action:
    at: datetime
    seq: int
    kind: str = field(compare=False)  # "start", "finish" or "resolve"
    item_id: int = field(compare=False)
    responder: Responder = field(compare=False)
    what: str = field(compare=False, default="")
    handling: timedelta = field(compare=False, default=timedelta(0))


def _rng(*parts: object) -> random.Random:
    return random.Random(zlib.crc32("|".join(str(p) for p in parts).encode()))


def _what(item: QueueItemRow, mention: MentionRow) -> str:
    """What a person does with the item, reading the post as a human would (the story's own label)."""
    label = (mention.raw or {}).get("demo_label")
    if mention.reply_path == ReplyPath.BLOCKED or label in ("spam", "neutral_news"):
        return "dismiss"
    if label == "thanks_followup":
        return "welcome"
    if item.kind == "thank" or label == "praise":
        return "thank"
    return "answer"


class Team:
    """Plan and carry out the responders' work on the demo's queue."""

    def __init__(self, db: Database, settings: Settings, demo: DemoNetwork, *, clock: SimClock,
                 deliver: Callable[[], int], say: Callable[[str], None]) -> None:
        self.db, self.settings, self.demo, self.clock = db, settings, demo, clock
        self.deliver, self.say = deliver, say
        #: What each responder has taken on: (from, to) spans of the week, so one person does one thing at a time.
        self.booked: dict[str, list[tuple[datetime, datetime]]] = {p.username: [] for p in TEAM}
        self.stats: Counter[str] = Counter()
        self._actions: list[_Action] = []
        self._seq = 0
        self._last_item = 0
        #: Items with a start or finish still to come, and when each item was last planned.
        self._pending: set[int] = set()
        self._planned_at: dict[int, datetime] = {}

    def add_users(self) -> None:
        """Add each responder as a brandmon user (random passwords, never shown), so the audit log names them."""
        from monitor.web.auth import UserError, add_user

        for person in TEAM:
            try:
                add_user(self.db, person.username, secrets.token_urlsafe(18), actor="brandmon demo")
            except UserError:
                continue  # already there

    # -- planning -------------------------------------------------------------------------------------
    def plan_new(self) -> int:
        """Plan the items queued since the last call, and items a customer's follow-up put back to "new"."""
        with self.db.session() as session:
            rows = session.execute(
                select(QueueItemRow, MentionRow).join(MentionRow, MentionRow.id == QueueItemRow.mention_id)
                .where(or_(QueueItemRow.id > self._last_item, QueueItemRow.status == "new"))
                .order_by(QueueItemRow.id)).all()
            planned = 0
            for item, mention in rows:
                fresh = item.id > self._last_item
                seen = self._planned_at.get(item.id, item.updated_at)
                if not fresh and (item.id in self._pending or item.updated_at <= seen):
                    continue
                self._last_item = max(self._last_item, item.id)
                self._planned_at[item.id] = self.clock()
                self._plan(item, mention if fresh else self._latest_post(session, mention))
                planned += 1
        return planned

    def _latest_post(self, session: Session, mention: MentionRow) -> MentionRow:
        """Return the customer's newest post since `mention` (the follow-up that reopened the item)."""
        later = session.execute(
            select(MentionRow).where(MentionRow.network == mention.network,
                                     MentionRow.author_handle == mention.author_handle,
                                     MentionRow.created_at >= mention.created_at,
                                     MentionRow.created_at <= self.clock())
            .order_by(MentionRow.created_at.desc(), MentionRow.id.desc())).scalars().all()
        return next((m for m in later if not (m.raw or {}).get("from_brand")), mention)

    def _story(self, moment: datetime) -> datetime:
        return moment - self.demo.shift

    def _plan(self, item: QueueItemRow, mention: MentionRow) -> None:
        what = _what(item, mention)
        rng = _rng(mention.network, mention.external_id)
        if rng.random() < LEFT_ALONE[what] * (0.5 if item.urgency_level in ("critical", "high") else 1.0):
            return
        low, high = REACTION_MIN.get(item.urgency_level, REACTION_MIN["normal"])
        if what in ("thank", "dismiss") and item.urgency_level in ("normal", "low"):
            low, high = 20.0, 600.0  # thank-yous and clearing out wait for a quiet moment
        minutes = rng.uniform(low, high) * (BUSY_FACTOR if rng.random() < BUSY_SHARE else 1.0)
        seen = self.clock()
        ready = max(mention.created_at + timedelta(minutes=minutes), seen + timedelta(seconds=30))
        handling = timedelta(minutes=rng.uniform(*HANDLING_MIN[what]))
        choices = self._choices([p for p in TEAM if mention.language in p.languages] or list(TEAM), ready, handling)
        target = timedelta(minutes=self.settings.sla.target(item.urgency_level).first_response_min)
        if not choices or (item.urgency_level != "low" and choices[0][0] > mention.created_at + target):
            # nobody who speaks the language is in before the deadline: someone else answers, in English
            choices = sorted(choices + self._choices(list(TEAM), ready, handling))
        if not choices:
            return
        start, _, person = choices[0]
        later = self.demo.later_post(mention.network, mention.author_handle, mention.conversation_id,
                                     mention.created_at)
        if later is not None and start >= later[0] - timedelta(minutes=1):
            # the story has the customer answer the brand's reply: someone picks it up before they do
            gap = later[0] - seen
            start = max(seen + timedelta(minutes=1), later[0] - gap * rng.uniform(0.2, 0.6))
        else:
            self.booked[person.username].append((start, start + handling))
        self._push(_Action(start, 0, "start", item.id, person, what, handling))

    def _choices(self, people: list[Responder], ready: datetime,
                 handling: timedelta) -> list[tuple[datetime, str, Responder]]:
        """Return (when they can start, name, responder) for each of `people` who can, soonest first."""
        found = [(slot, p.username, p) for p in people if (slot := self._slot(p, ready, handling)) is not None]
        return sorted(found)

    def _slot(self, person: Responder, ready: datetime, handling: timedelta) -> datetime | None:
        """Return the first time from `ready` when `person` is at work and free for `handling`."""
        moment = ready
        for _ in range(1000):
            opens = person.on_duty_from(self._story(moment))
            if opens is None:
                return None
            moment = opens + self.demo.shift
            clash = next((until for since, until in self.booked[person.username]
                          if since < moment + handling and moment < until), None)
            if clash is None:
                return moment
            moment = clash
        return None

    def _push(self, action: _Action) -> None:
        self._seq += 1
        action.seq = self._seq
        heapq.heappush(self._actions, action)
        if action.kind in ("start", "finish"):
            self._pending.add(action.item_id)

    def next_at(self) -> datetime | None:
        """Return when the next planned action happens, or None."""
        return self._actions[0].at if self._actions else None

    # -- doing ------------------------------------------------------------------------------------------
    def run_until(self, until: datetime) -> None:
        """Carry out every action planned up to `until`, in order, each at its own time."""
        while self._actions and self._actions[0].at <= until:
            action = heapq.heappop(self._actions)
            self.clock.set(action.at)
            try:
                if action.kind == "start":
                    self._start(action)
                elif action.kind == "finish":
                    self._finish(action)
                else:
                    self._resolve(action)
            except QueueError as exc:  # someone else holds it, or it changed: a person would move on
                self.stats["skipped"] += 1
                self.say(f"{self._when(action.at)} {action.responder.username}: item {action.item_id}: {exc}")
            finally:
                if not any(a.item_id == action.item_id and a.kind in ("start", "finish") for a in self._actions):
                    self._pending.discard(action.item_id)

    def _resolve(self, action: _Action) -> None:
        item, _ = self._load(action.item_id)
        if item.status in ("replied", "claimed"):  # not when a follow-up reopened it, or it is closed already
            set_status(self.db, item.id, "resolved", action.responder.username, now=action.at)
            self.stats["resolved"] += 1

    def _when(self, moment: datetime) -> str:
        """Say when, as time before the demo's "now" (the week is rebased, so clock times would mislead)."""
        return f"{format_minutes((self.demo.end - moment).total_seconds() / 60):>8} ago"

    def _load(self, item_id: int) -> tuple[QueueItemRow, MentionRow]:
        with self.db.session() as session:
            item = session.get(QueueItemRow, item_id)
            assert item is not None
            mention = session.get(MentionRow, item.mention_id)
            assert mention is not None
            return item, mention

    def _start(self, action: _Action) -> None:
        """Claim the item and open its thread; the work is done (`_finish`) once the handling time has passed."""
        item, mention = self._load(action.item_id)
        if item.status not in ("new", "snoozed"):
            return
        claim(self.db, item.id, action.responder.username, now=action.at, lease_min=self.settings.queue.lease_min)
        mark_seen(self.db, item.id, mention.id, action.responder.username, now=action.at)
        self.stats["claimed"] += 1
        self._push(_Action(action.at + action.handling, 0, "finish", item.id, action.responder, action.what))

    def _finish(self, action: _Action) -> None:
        person, done = action.responder, action.at
        item, mention = self._load(action.item_id)
        waited = format_minutes((done - mention.created_at).total_seconds() / 60)
        who = f"{self._when(done)} {person.username:<6}"
        handle = cut(for_terminal("@" + mention.author_handle), 30)
        if action.what == "dismiss":
            set_status(self.db, item.id, "not_relevant", person.username, now=done)
            self.stats["not_relevant"] += 1
            self.say(f"{who} marked {handle} not relevant ({mention.network})")
            return
        if mention.reply_path != ReplyPath.API:
            set_status(self.db, item.id, "replied", person.username, now=done)
            self.stats["answered_in_app"] += 1
            self.say(f"{who} answered {handle} in the X app {waited} after the post (X lets the API answer only "
                     "posts that summon the brand) and marked it replied")
        else:
            text = self._text(action.what, mention, person)
            try:
                reply = queue_reply(self.db, item.id, person.username, text, now=done)
            except ThreadChanged:  # the customer wrote again meanwhile: read it, then send
                mark_seen(self.db, item.id, mention.id, person.username, now=done)
                reply = queue_reply(self.db, item.id, person.username, text, now=done)
            self.deliver()
            with self.db.session() as session:
                row = session.get(ReplyRow, reply.id)
                posted = row is not None and row.status == "posted"
                url = row.url if row is not None else None
            self.stats[("thank_yous" if action.what == "thank" else "replies") if posted else "not_posted"] += 1
            verb = "thanked" if action.what == "thank" else "replied to"
            self.say(f"{who} {verb} {handle} on {mention.network}, {waited} after the post: "
                     f"{cut(for_terminal(text), 90)}" + (f"  {url}" if posted and url else ""))
        self._plan_resolution(action, mention, done)

    def _text(self, what: str, mention: MentionRow, person: Responder) -> str:
        language = speaks(mention.language) if mention.language in person.languages else "en"
        rng = _rng("text", mention.external_id)
        named = mention.author_name.strip().lower() not in ("", mention.author_handle.lower())
        if what == "thank" and language == "en" and named:  # the configured thank-you, as `queue thank` sends it
            template = thank_template(self.settings.queue.saved_replies, mention.network)
            return render_saved_reply(template, author_name=mention.author_name, handle=mention.author_handle,
                                      brand=mention.brand)
        with self.db.session() as session:
            category = session.execute(select(QueueItemRow.urgency_category)
                                       .where(QueueItemRow.mention_id == mention.id)).scalar()
        topic = what if what in ("thank", "welcome") else (category or "none")
        if topic in ("other", "none"):
            topic = "question" if "?" in mention.text else "answer"
        return compose(topic, language=language, author_name=mention.author_name, handle=mention.author_handle,
                       network=mention.network, responder=person.name, rng=rng)

    def _plan_resolution(self, action: _Action, mention: MentionRow, done: datetime) -> None:
        rng = _rng("resolve", mention.external_id)
        if action.what in ("thank", "welcome"):
            when: datetime | None = done + timedelta(seconds=20)
        else:
            later = self.demo.later_post(mention.network, mention.author_handle, mention.conversation_id,
                                         mention.created_at)
            if later is not None:  # resolved once the customer confirms; a new complaint stays open
                when = later[0] + timedelta(minutes=rng.uniform(3, 30)) if later[1] == "thanks_followup" else None
            elif rng.random() < 0.6:
                when = done + timedelta(minutes=rng.uniform(30, 360))
            else:
                when = None  # replied, waiting on the customer
        if when is not None:
            self._push(_Action(when, 0, "resolve", action.item_id, action.responder))
