"""Assemble a digest for one brand and week from the stored rows."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.settings import SlaSettings
from core.settings.cases import CaseSettings
from core.storage import Database
from monitor.digest import figures
from monitor.digest.data import PostRecord, case_of_mentions, load_cases, load_posts, load_queue
from monitor.digest.themes import Theme, build_embedder, find_themes, stop_words
from monitor.digest.weeks import IsoWeek
from monitor.queue.cases import CaseFigures, case_figures
from monitor.queue.sla import business_clock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Digest:
    """Everything the weekly report shows, computed from stored rows."""

    brand: str
    week: IsoWeek
    generated_at: datetime
    competitors: list[str]
    volume: figures.Volume
    sentiment: figures.Sentiment
    share_of_voice: list[figures.BrandShare]
    complaints: int
    previous_complaints: int | None
    themes: list[Theme]
    themes_method: str
    response: figures.Response
    praised: list[PostRecord]
    spikes: list[figures.Spike]
    incidents: list[figures.Incident]
    #: Stored mentions of the brand this week left out because they do not match its query.
    off_query: int
    models: list[str]
    #: Figures over the stored cases opened this week (README, "Cases"): response rate, first response (wall
    #: clock and business hours), resolution, first-contact resolution, SLA breaches, recovery.
    cases: CaseFigures | None = None
    #: Mentions and sentiment shares per stored language, busiest first ("unknown" where none was stored).
    languages: list[figures.LanguageRow] = dataclasses.field(default_factory=list)


def build_digest(
    db: Database,
    *,
    brand: str,
    week: IsoWeek,
    now: datetime,
    competitors: Sequence[str] = (),
    previous_weeks: int = 4,
    max_themes: int = 6,
    theme_embedder: str = "minilm",
    brand_words: Sequence[str] = (),
    cases: CaseSettings | None = None,
    sla: SlaSettings | None = None,
) -> Digest:
    """Compute the digest of `brand` for `week`, comparing with `previous_weeks` before it, as of `now`."""
    first = week.shifted(-previous_weeks) if previous_weeks > 0 else week
    brands = [brand, *[name for name in competitors if name != brand]]
    stored = load_posts(db, brands, first.start, week.end)
    in_week = [post for post in stored if post.created_at >= week.start]
    mine_all = [post for post in in_week if post.brand == brand]
    mine = figures.relevant(mine_all)
    earlier = []
    for offset in range(1, previous_weeks + 1):
        before = week.shifted(-offset)
        earlier.append(figures.relevant([post for post in stored if post.brand == brand
                                         and before.start <= post.created_at < before.end]))
    complaints = [post for post in mine if post.complaint]
    last_week = earlier[0] if earlier else []
    previous_complaints = [post for post in last_week if post.complaint] if last_week else None
    stop = stop_words([brand, *brand_words])
    embedder, method = build_embedder(theme_embedder, stop=stop)
    case_of = case_of_mentions(db, [post.mention_id for post in complaints + (previous_complaints or [])])
    themes = find_themes(complaints, previous_complaints, embedder=embedder, stop=stop, max_themes=max_themes,
                         case_of=case_of)
    vol = figures.volume(mine, last_week, week)
    week_cases = load_cases(db, brand, week.start, week.end)
    working = business_clock(cases or CaseSettings(), sla or SlaSettings())
    log.info("digest %s %s: %d mentions, %d complaints in %d themes", brand, week, len(mine), len(complaints),
             len(themes))
    return Digest(
        brand=brand,
        week=week,
        generated_at=now,
        competitors=brands[1:],
        volume=vol,
        sentiment=figures.sentiment(mine, earlier, week),
        share_of_voice=figures.share_of_voice(figures.relevant(in_week), brands, brand),
        complaints=len(complaints),
        previous_complaints=None if previous_complaints is None else len(previous_complaints),
        themes=themes,
        themes_method=method,
        response=figures.response(load_queue(db, brand, week.start, week.end), now=now),
        praised=figures.praised(mine),
        spikes=figures.spikes(mine, vol.hourly, week),
        incidents=figures.incidents(mine),
        off_query=len(mine_all) - len(mine),
        models=sorted({post.model for post in mine if post.model}),
        cases=case_figures(week_cases, now=now, business_minutes=working),
        languages=figures.by_language(mine),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, IsoWeek):
        return value.label
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def as_json(digest: Digest) -> dict[str, Any]:
    """Return the digest as plain JSON data: every figure with the counts and mention ids behind it."""
    data: dict[str, Any] = _plain(digest)
    for theme, plain in zip(digest.themes, data["themes"], strict=True):
        plain["size"], plain["posts"] = theme.size, theme.posts
    return data


def dumps(digest: Digest) -> str:
    """Return the digest as indented JSON text."""
    return json.dumps(as_json(digest), indent=2, ensure_ascii=False)
