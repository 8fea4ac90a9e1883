"""The digest's Slack summary: a few figures and a pointer to the full report, every untrusted string escaped."""

from __future__ import annotations

from typing import Any

from alerts.slack_render import link, mrkdwn_escape, plain
from core.durations import format_minutes

VERDICT_WORDS = {"up": "worse", "down": "better", "no clear change": "within noise",
                 "not enough data": "no earlier week"}


def _pct(value: Any, *, signed: bool = False) -> str:
    if not isinstance(value, (int, float)):
        return "—"
    return f"{value * 100:+.1f} pts" if signed else f"{value * 100:.0f}%"


def summary_blocks(payload: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Return (fallback text, blocks) for a digest summary payload (`payload["type"] == "digest"`)."""
    brand = plain(str(payload.get("brand") or ""), 80)
    week = plain(str(payload.get("week") or ""), 20)
    mentions = payload.get("mentions", 0)
    previous = payload.get("previous_mentions") or 0
    change = f" ({(mentions - previous) / previous:+.0%} vs last week)" if previous else ""
    verdict = VERDICT_WORDS.get(str(payload.get("verdict")), "")
    negative = (f"{_pct(payload.get('negative_share'))} (95% CI {_pct(payload.get('negative_low'))}–"
                f"{_pct(payload.get('negative_high'))})")
    if payload.get("change") is not None:
        negative += f"\n{_pct(payload.get('change'), signed=True)} vs last week, {verdict}"
    response = payload.get("response") or {}
    fields = [
        f"*Mentions*\n{mentions}{change}",
        f"*Negative share*\n{negative}",
        f"*Net sentiment*\n{_pct(payload.get('net'), signed=True)}",
        f"*Share of voice*\n{_pct(payload.get('share_of_voice'))}",
        f"*First response p50 / p90*\n{format_minutes(response.get('p50_min'))} / "
        f"{format_minutes(response.get('p90_min'))}"
        f" ({response.get('answered', 0)} of {response.get('items', 0)} answered)",
        f"*SLA breach rate*\n{_pct(response.get('breach_rate'))} ({response.get('breached', 0)} of "
        f"{response.get('due', 0)} due)",
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Weekly digest: {payload.get('brand', '')}"[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{brand}* · {week}"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": field} for field in fields]},
    ]
    themes = payload.get("themes") or []
    if themes:
        lines = []
        for theme in themes[:5]:
            before = theme.get("previous")
            trend = "" if before is None else (" · new" if before == 0 else f" · last week {before}")
            lines.append(f"• {plain(str(theme.get('name') or ''), 80)}: {theme.get('size', 0)}{trend}")
        text = "*Complaint themes*\n" + "\n".join(lines)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    rivals = payload.get("competitors") or []
    if rivals:
        lines = [f"• {plain(str(r.get('brand') or ''), 60)}: {_pct(r.get('share'))} of voice, net "
                 f"{_pct(r.get('net'), signed=True)}" for r in rivals[:5]]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Competitors*\n" + "\n".join(lines)}})
    spikes = payload.get("spikes") or []
    if spikes:
        lines = []
        for spike in spikes[:3]:
            mostly = f", {plain(str(spike['top_category']), 30)}" if spike.get("top_category") else ""
            lines.append(f"• {plain(str(spike.get('when') or ''), 40)}: {spike.get('mentions', 0)} mentions "
                         f"(usually {float(spike.get('expected') or 0):.0f}){mostly}")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Spikes*\n" + "\n".join(lines)}})
    url, path = str(payload.get("report_url") or ""), str(payload.get("report_path") or "")
    where = link(url, "Open the full report") if url else (f"Full report: `{plain(path, 300)}`" if path else "")
    if where:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": where}]})
    fallback = (f"Weekly digest {payload.get('brand', '')} {payload.get('week', '')}: {mentions} mentions, "
                f"{_pct(payload.get('negative_share'))} negative")
    return mrkdwn_escape(fallback), blocks
