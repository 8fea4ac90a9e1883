"""Make a digest end to end: compute it, write the HTML and JSON files, queue the Slack summary in the outbox."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from core.outbox import enqueue
from core.settings import DigestSettings, Settings, SlaSettings
from core.settings.cases import CaseSettings
from core.storage import Database
from monitor.digest.build import Digest, build_digest, dumps
from monitor.digest.render import render_html
from monitor.digest.weeks import IsoWeek, last_full_week

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DigestResult:
    """What one digest run produced."""

    digest: Digest
    html_path: Path
    json_path: Path
    #: The outbox row of the Slack summary; None when Slack was not asked for or it was queued before.
    outbox_id: int | None
    slack_channel: str | None


def slug(text: str) -> str:
    """Return a file-name-safe lower-case form of `text` ("Kestrel Mobile" -> "kestrel-mobile")."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "brand"


def default_path(out_dir: str | Path, brand: str, week: IsoWeek) -> Path:
    """Return where a brand's weekly report goes: `<out_dir>/<brand>-<week>.html`."""
    return Path(out_dir) / f"{slug(brand)}-{week.label}.html"


def slack_payload(digest: Digest, *, report_path: Path, report_url: str | None) -> dict[str, Any]:
    """Return the outbox payload of the Slack summary: the headline figures, copied so they never change."""
    change = digest.sentiment.vs_last_week
    own = next((share for share in digest.share_of_voice if share.own), None)
    zone = ZoneInfo(digest.week.timezone)
    return {
        "type": "digest",
        "brand": digest.brand,
        "week": digest.week.label,
        "start": digest.week.start.isoformat(),
        "end": digest.week.end.isoformat(),
        "mentions": digest.volume.total,
        "previous_mentions": digest.volume.previous_total,
        "negative_share": digest.sentiment.negative.share,
        "negative_low": digest.sentiment.negative.low,
        "negative_high": digest.sentiment.negative.high,
        "change": change.diff,
        "change_low": change.low,
        "change_high": change.high,
        "verdict": change.verdict,
        "net": digest.sentiment.net,
        "share_of_voice": own.share if own else None,
        "competitors": [{"brand": s.brand, "share": s.share, "net": s.net} for s in digest.share_of_voice if not s.own],
        "complaints": digest.complaints,
        "themes": [{"name": t.name, "size": t.size, "customers": t.customers, "previous": t.previous}
                   for t in digest.themes],
        "spikes": [{"when": s.start.astimezone(zone).strftime("%a %d %b %H:%M"), "mentions": s.mentions,
                    "expected": s.expected, "top_category": s.top_category} for s in digest.spikes],
        "response": _response(digest),
        "report_path": str(report_path),
        "report_url": report_url,
    }


def _response(digest: Digest) -> dict[str, Any]:
    """The summary's response figures: from the week's cases when there are any, else from the queue items."""
    cases = digest.cases
    if cases is not None and cases.cases:
        return {"basis": "cases", "items": cases.cases, "answered": cases.responded,
                "p50_min": cases.first_response_p50_min, "p90_min": cases.first_response_p90_min,
                "business_p50_min": cases.first_response_business_p50_min, "breach_rate": cases.sla_breach_rate,
                "breached": cases.sla_breached, "due": cases.sla_due, "resolution_rate": cases.resolution_rate,
                "first_contact_resolution_rate": cases.first_contact_resolution_rate,
                "recovery_share": cases.recovery_share}
    resp = digest.response
    return {"basis": "queue items", "items": resp.items, "answered": resp.answered, "p50_min": resp.p50_min,
            "p90_min": resp.p90_min, "breach_rate": resp.breach_rate, "breached": resp.breached, "due": resp.due,
            "resolution_rate": resp.resolution_rate}


def enqueue_summary(db: Database, *, channel: str, payload: dict[str, Any], now: datetime) -> int | None:
    """Queue the summary once per brand and week; return the new outbox id, or None if it was queued before."""
    key = f"digest:{payload['brand']}:{payload['week']}"
    with db.session() as session:
        outbox_id, new = enqueue(session, kind="slack", channel=channel, dedupe_key=key, payload=payload, now=now)
    if not new:
        log.info("digest summary %s was queued before; not sending it twice", key)
        return None
    return outbox_id


def make_digest(
    db: Database,
    *,
    brand: str,
    week: IsoWeek,
    now: datetime,
    options: DigestSettings,
    competitors: Sequence[str] = (),
    brand_words: Sequence[str] = (),
    out: Path | None = None,
    slack_channel: str | None = None,
    cases: CaseSettings | None = None,
    sla: SlaSettings | None = None,
) -> DigestResult:
    """Compute one digest, write `<out>` and its `.json` sidecar, and queue the Slack summary if a channel is given."""
    digest = build_digest(db, brand=brand, week=week, now=now, competitors=competitors, brand_words=brand_words,
                          previous_weeks=options.previous_weeks, max_themes=options.max_themes,
                          theme_embedder=options.theme_embedder, cases=cases, sla=sla)
    html_path = out or default_path(options.out_dir, brand, week)
    json_path = html_path.with_suffix(".json")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(dumps(digest), encoding="utf-8")
    html_path.write_text(render_html(digest, report_json=json_path.name, database=db.redacted_url()),
                         encoding="utf-8")
    outbox_id = None
    if slack_channel:
        url = options.report_base_url.rstrip("/") + "/" + html_path.name if options.report_base_url else None
        payload = slack_payload(digest, report_path=html_path.resolve(), report_url=url)
        outbox_id = enqueue_summary(db, channel=slack_channel, payload=payload, now=now)
    log.info("digest %s %s written to %s", brand, week, html_path)
    return DigestResult(digest, html_path, json_path, outbox_id, slack_channel)


def run_weekly(settings: Settings, db: Database, *, now: datetime) -> list[DigestResult]:
    """Make last week's digest for every own brand: the scheduler's weekly job."""
    options = settings.digest
    week = last_full_week(now, timezone=options.timezone)
    results = []
    for brand in settings.brands:
        if not brand.own:
            continue
        results.append(make_digest(db, brand=brand.name, week=week, now=now, options=options,
                                   competitors=brand.competitors,
                                   brand_words=[h for n in brand.handles for h in brand.accounts(n)],
                                   slack_channel=options.slack_channel, cases=settings.cases, sla=settings.sla))
    return results
