"""Charts for the digest, drawn with matplotlib into SVG and embedded as data URIs (no files, no network).

Text is drawn as paths, so a chart looks the same offline on any machine and cannot carry markup.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from core.textsafe import cut
from monitor.digest.build import Digest
from monitor.digest.figures import Response, Sentiment, Spike, Volume
from monitor.digest.stats import Proportion
from monitor.digest.themes import Theme
from monitor.digest.weeks import IsoWeek

NETWORK_COLOURS = {"x": "#1d3557", "reddit": "#e76f51"}
OTHER_COLOURS = ("#2a9d8f", "#8d99ae", "#e9c46a", "#6d597a")
NEGATIVE, POSITIVE, NEUTRAL, OWN, RIVAL = "#c1121f", "#2a9d8f", "#8d99ae", "#1d3557", "#a8b3c7"
_RC: dict[str, Any] = {
    "svg.fonttype": "path", "svg.hashsalt": "brandmon-digest", "font.size": 9, "axes.spines.top": False,
    "axes.spines.right": False, "axes.titlesize": 10, "axes.titleweight": "bold", "axes.titlelocation": "left"}


def label(text: str, limit: int = 28) -> str:
    """Make untrusted text safe for a chart label: short, and with no mathtext (`$`) markup."""
    return cut(" ".join(text.split()), limit).replace("$", r"\$")


def _data_uri(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=96, layout="constrained")


def volume_chart(volume: Volume) -> str:
    """Draw mentions per day, stacked by network, with each day's total on top."""
    figure = _figure(6.4, 2.6)
    axes = figure.subplots()
    days = [day[5:] for day, _ in volume.by_day]
    bottoms = [0] * len(days)
    for index, network in enumerate(volume.by_network):
        counts = [counts.get(network, 0) for _, counts in volume.by_day]
        colour = NETWORK_COLOURS.get(network, OTHER_COLOURS[index % len(OTHER_COLOURS)])
        axes.bar(days, counts, bottom=bottoms, color=colour, label=label(network, 16), width=0.7)
        bottoms = [b + c for b, c in zip(bottoms, counts, strict=True)]
    for x, total in enumerate(bottoms):
        axes.annotate(str(total), (x, total), ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                      textcoords="offset points")
    axes.set_title("Mentions per day, by network")
    axes.set_ylabel("mentions")
    if volume.by_network:
        axes.legend(frameon=False, ncols=len(volume.by_network), loc="upper left", bbox_to_anchor=(0, -0.12))
    return _data_uri(figure)


def hourly_chart(volume: Volume, spikes: Sequence[Spike], week: IsoWeek) -> str:
    """Draw mentions per hour across the week, with spikes shaded."""
    figure = _figure(6.4, 2.0)
    axes = figure.subplots()
    hours = list(range(len(volume.hourly)))
    axes.fill_between(hours, volume.hourly, step="post", color=OWN, alpha=0.85, linewidth=0)
    for spike in spikes:
        first = (spike.start - week.start) / timedelta(hours=1)
        last = (spike.end - week.start) / timedelta(hours=1)
        axes.axvspan(first, last, color=NEGATIVE, alpha=0.18, linewidth=0)
    axes.set_xticks([24 * i + 12 for i in range(7)], [day.strftime("%a %d") for day in week.days])
    axes.set_xlim(0, len(hours))
    axes.set_title("Mentions per hour (shaded: spikes)")
    return _data_uri(figure)


def _errorbar(axes: object, xs: Sequence[float], shares: Sequence[Proportion], colour: str, name: str) -> None:
    points = [(x, p) for x, p in zip(xs, shares, strict=True) if p.share is not None]
    if not points:
        return
    values = [p.share * 100 for _, p in points]  # type: ignore[operator]
    # an error bar is never negative, even where float rounding puts a bound just past the share
    below = [max(0.0, (p.share - p.low) * 100) for _, p in points]  # type: ignore[operator]
    above = [max(0.0, (p.high - p.share) * 100) for _, p in points]  # type: ignore[operator]
    axes.errorbar([x for x, _ in points], values, yerr=[below, above], color=colour, marker="o",  # type: ignore[attr-defined]
                  markersize=4, capsize=3, linewidth=1.5, label=name)


def sentiment_chart(sentiment: Sentiment) -> str:
    """Draw the daily negative and positive shares with their 95% intervals, and the weekly negative trend."""
    figure = _figure(6.4, 2.6)
    daily, weekly = figure.subplots(1, 2, width_ratios=[3, 2])
    xs = list(range(len(sentiment.daily)))
    # nudge the two series apart so their intervals do not hide each other
    _errorbar(daily, [x - 0.08 for x in xs], [d.negative for d in sentiment.daily], NEGATIVE, "negative")
    _errorbar(daily, [x + 0.08 for x in xs], [d.positive for d in sentiment.daily], POSITIVE, "positive")
    daily.set_xticks(xs, [d.day[5:] for d in sentiment.daily])
    daily.set_ylim(0, 100)
    daily.set_ylabel("% of classified mentions")
    daily.set_title("Daily sentiment (bars: 95% interval)")
    if daily.get_legend_handles_labels()[0]:  # a week with nothing classified has no series to name
        daily.legend(frameon=False, fontsize=8, loc="upper right")
    wx = list(range(len(sentiment.weekly)))
    _errorbar(weekly, wx, [w.negative for w in sentiment.weekly], NEGATIVE, "negative")
    for x, week in zip(wx, sentiment.weekly, strict=True):
        if week.negative.share is None:
            weekly.annotate("no data", (x, 2), ha="center", fontsize=7, color=NEUTRAL, rotation=90)
    weekly.set_xticks(wx, [w.week[5:] for w in sentiment.weekly])
    weekly.set_xlim(-0.5, len(wx) - 0.5)
    weekly.set_ylim(0, 100)
    weekly.set_title("Negative share by week")
    return _data_uri(figure)


def share_chart(digest: Digest) -> str:
    """Draw share of voice and net sentiment for the brand and each competitor."""
    shares = digest.share_of_voice
    figure = _figure(6.4, 0.5 + 0.45 * max(2, len(shares)))
    voice, net = figure.subplots(1, 2, sharey=True)
    names = [label(share.brand, 22) for share in shares][::-1]
    colours = [OWN if share.own else RIVAL for share in shares][::-1]
    voice.barh(names, [(share.share or 0) * 100 for share in shares][::-1], color=colours)
    voice.set_title("Share of voice (%)")
    voice.set_xlim(0, 100)
    nets = [(share.net or 0) * 100 for share in shares][::-1]
    net.barh(names, nets, color=[POSITIVE if value >= 0 else NEGATIVE for value in nets])
    net.axvline(0, color="#333333", linewidth=0.8)
    net.set_xlim(-100, 100)
    net.set_title("Net sentiment (% positive − % negative)")
    return _data_uri(figure)


def themes_chart(themes: Sequence[Theme]) -> str:
    """Draw each theme's size this week, with last week's count as a marker."""
    shown = list(themes)[::-1]
    figure = _figure(6.4, 0.5 + 0.4 * max(2, len(shown)))
    axes = figure.subplots()
    names = [label(f"{i}. {theme.name}", 40) for i, theme in zip(range(len(shown), 0, -1), shown, strict=True)]
    axes.barh(names, [theme.size for theme in shown], color=NEGATIVE, alpha=0.8, label="this week")
    last = [(i, theme.previous) for i, theme in enumerate(shown) if theme.previous is not None]
    if last:
        axes.scatter([count for _, count in last], [i for i, _ in last], marker="|", s=220, color="#222222",
                     label="last week", zorder=3)
    axes.set_xlabel("complaints")
    axes.set_title("Complaint themes")
    axes.legend(frameon=False, fontsize=8, loc="lower right")
    return _data_uri(figure)


def response_chart(response: Response) -> str | None:
    """Draw the spread of first-response times with p50 and p90 marked; None when nothing was answered."""
    if not response.first_response_min:
        return None
    figure = _figure(6.4, 2.2)
    axes = figure.subplots()
    hours = [minutes / 60 for minutes in response.first_response_min]
    axes.hist(hours, bins=min(30, max(5, len(hours) // 2)), color=OWN)
    for value, name in ((response.p50_min, "p50"), (response.p90_min, "p90")):
        if value is not None:
            axes.axvline(value / 60, color=NEGATIVE, linestyle="--", linewidth=1)
            axes.annotate(name, (value / 60, axes.get_ylim()[1]), xytext=(3, -10), textcoords="offset points",
                          color=NEGATIVE, fontsize=8)
    axes.set_xlabel("hours from post to first public answer")
    axes.set_ylabel("items")
    axes.set_title("First response time")
    return _data_uri(figure)


def all_charts(digest: Digest) -> dict[str, str | None]:
    """Draw every chart of the digest; a chart with nothing to show is None."""
    with matplotlib.rc_context(_RC):  # type: ignore[arg-type]
        return {
            "volume": volume_chart(digest.volume),
            "hourly": hourly_chart(digest.volume, digest.spikes, digest.week),
            "sentiment": sentiment_chart(digest.sentiment),
            "share": share_chart(digest) if digest.share_of_voice else None,
            "themes": themes_chart(digest.themes) if digest.themes else None,
            "response": response_chart(digest.response),
        }
