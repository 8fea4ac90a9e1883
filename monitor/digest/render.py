"""Render a digest as one self-contained HTML page: Jinja2 with autoescape, charts as data URIs."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from core.durations import format_minutes
from core.textsafe import for_terminal
from monitor.digest.build import Digest
from monitor.digest.charts import all_charts
from monitor.digest.stats import Change

VERDICTS = {"up": "worse: more negative", "down": "better: less negative", "no clear change": "within noise",
            "not enough data": "no earlier data to compare"}


def pct(value: float | None, digits: int = 0, *, signed: bool = False) -> str:
    """Format a share as a percentage ("38%"); a missing value as an em dash."""
    if value is None:
        return "—"
    text = f"{value * 100:+.{digits}f}" if signed else f"{value * 100:.{digits}f}"
    return f"{text} pts" if signed else f"{text}%"


def duration(minutes: float | None) -> str:
    """Format minutes as "42m", "3h 05m" or "2d 4h"; a missing value as an em dash."""
    return format_minutes(minutes)


def visible(text: str) -> str:
    """Show untrusted text as typed: control and bidi-override characters made visible (escaping is Jinja's)."""
    return for_terminal(text, keep_newlines=True)


def web_url(url: str | None) -> str | None:
    """Return the URL if it is http(s), else None, so a stored `javascript:` URL never becomes a link."""
    return url if url and url.lower().startswith(("https://", "http://")) else None


def change_words(change: Change) -> str:
    """Say in words what a change in negative share means."""
    return VERDICTS[change.verdict]


def key_points(digest: Digest) -> list[str]:
    """Return the few sentences a marketer reads first (plain text; the template escapes them)."""
    points = []
    vol = digest.volume
    if vol.previous_total:
        growth = (vol.total - vol.previous_total) / vol.previous_total
        points.append(f"{vol.total} mentions, {abs(growth):.0%} {'more' if growth >= 0 else 'fewer'} than last "
                      f"week's {vol.previous_total}.")
    else:
        points.append(f"{vol.total} mentions; none stored for last week to compare with.")
    neg = digest.sentiment.negative
    if neg.share is not None:
        change = digest.sentiment.vs_last_week
        tail = (f"{pct(change.diff, 1, signed=True)} against last week ({change_words(change)})"
                if change.diff is not None else "no earlier week to compare")
        points.append(f"{pct(neg.share)} of classified mentions were negative (95% interval {pct(neg.low)}–"
                      f"{pct(neg.high)}); {tail}.")
    if digest.themes:
        top = digest.themes[0]
        points.append(f"Largest complaint theme: “{top.name}” with {top.size} cases from {top.customers} "
                      f"customers ({top.posts} of {digest.complaints} complaints).")
    for spike in digest.spikes[:2]:
        zone = digest.week.timezone
        points.append(f"Spike {_local(spike.start, zone)}–{_local(spike.end, zone, '%H:%M')}"
                      f": {spike.mentions} mentions where about {spike.expected:.0f} are usual"
                      f"{', mostly ' + spike.top_category if spike.top_category else ''}.")
    own = next((share for share in digest.share_of_voice if share.own), None)
    if own is not None and len(digest.share_of_voice) > 1:
        points.append(f"Share of voice {pct(own.share)} against {len(digest.share_of_voice) - 1} competitors; "
                      f"net sentiment {pct(own.net, signed=True)}.")
    cases = digest.cases
    if cases is not None and cases.cases:
        points.append(f"{cases.responded} of {cases.cases} customer conversations answered "
                      f"({pct(cases.response_rate)}); first response p50 {duration(cases.first_response_p50_min)}, "
                      f"p90 {duration(cases.first_response_p90_min)} (business hours p50 "
                      f"{duration(cases.first_response_business_p50_min)}); SLA breached on "
                      f"{pct(cases.sla_breach_rate)} of cases due.")
        if cases.began_negative:
            points.append(f"{cases.recovered} of {cases.began_negative} conversations that began negative ended "
                          f"neutral or positive ({pct(cases.recovery_share)}).")
        return points
    resp = digest.response
    if resp.items:
        points.append(f"{resp.answered} of {resp.items} queue items answered; first response p50 "
                      f"{duration(resp.p50_min)}, p90 {duration(resp.p90_min)}; SLA breached on "
                      f"{pct(resp.breach_rate)} of items due.")
    return points


def _local(moment: datetime, timezone: str, fmt: str = "%a %d %b %H:%M") -> str:
    return moment.astimezone(ZoneInfo(timezone)).strftime(fmt)


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    """Return the Jinja2 environment for monitor/digest/templates, autoescaping every variable."""
    env = Environment(loader=PackageLoader("monitor.digest", "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=pct, duration=duration, visible=visible, web_url=web_url, change_words=change_words)
    return env


def render_html(digest: Digest, *, charts: dict[str, str | None] | None = None, report_json: str | None = None,
                database: str | None = None) -> str:
    """Render the digest page; `report_json` names the sidecar with the figures and mention ids, if written."""
    context: dict[str, Any] = {
        "d": digest,
        "charts": all_charts(digest) if charts is None else charts,
        "points": key_points(digest),
        "local": lambda moment, fmt="%a %d %b %H:%M": _local(moment, digest.week.timezone, fmt),
        "report_json": report_json,
        "database": database,
    }
    return environment().get_template("digest.html").render(**context)
