"""The Slack message for a volume spike: how far above normal, top terms, sentiment mix, examples."""

from __future__ import annotations

from typing import Any

from alerts.slack_render import LEVEL_EMOJI, link, one_line, plain, reach_text, sentiment_mix, slack_date

KIND_WORDS = {"burst": "sudden burst", "climb": "slow climb", "negative": "negative share jump"}


def spike_blocks(payload: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """Return (fallback text, blocks) for a spike: how far above normal, top terms, sentiment mix, examples."""
    kinds = ", ".join(KIND_WORDS.get(k, k) for k in payload.get("kinds") or [])
    brand = one_line(str(payload.get("brand") or ""), 80)
    count, expected = int(payload.get("count") or 0), float(payload.get("expected") or 0)
    closed = payload.get("status") == "closed"
    headline = (
        f"{':white_check_mark:' if closed else LEVEL_EMOJI['high']} *SPIKE* {one_line(kinds, 80)} · {brand}"
        f"{' — back to normal' if closed else ''}"
    )
    mix = payload.get("sentiments") or {}
    fields = [
        f"*Volume*\n{count} posts vs {expected:.1f} normal ({float(payload.get('factor') or 0):.1f}×)",
        f"*Negative share*\n{float(payload.get('negative_share') or 0):.0%} vs "
        f"{float(payload.get('baseline_negative_share') or 0):.0%} normal",
        f"*Sentiment mix*\n{sentiment_mix(mix)}",
        f"*Window*\n{slack_date(payload.get('window_start'), '{time}')} – "
        f"{slack_date(payload.get('window_end'), '{time}')}",
        f"*Normal is*\n{one_line(str(payload.get('baseline') or ''), 120)}",
    ]
    if payload.get("hourly"):
        fields.append("*Posts per hour*\n" + " → ".join(str(int(n)) for n in payload["hourly"]))
    terms = ", ".join(f"`{plain(str(t), 40)}`" for t in payload.get("top_terms") or []) or "none stand out"
    examples = []
    for example in list(payload.get("examples") or [])[:3]:
        url = str(example.get("url") or "")
        examples.append(
            f"*@{one_line(str(example.get('author_handle') or ''), 60)}* "
            f"({reach_text(example.get('author_followers'))}, {one_line(str(example.get('sentiment')), 20)})"
            f"{' ' + link(url, 'view') if url else ''}\n> {one_line(str(example.get('text') or ''), 300)}"
        )
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Top terms*: {terms}"[:3000]}},
    ]
    if examples:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": ("*Examples*\n" + "\n".join(examples))[:3000]}}
        )
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"spike #{int(payload.get('incident_id') or 0)}"}]}
    )
    fallback = f"SPIKE {kinds} · {payload.get('brand')}: {count} posts vs {expected:.1f} normal"
    return plain(fallback, 300), blocks
