"""The Reclassify menu of an alert: sentiment, complaint and urgency category, in Slack option groups.

The categories come with the alert: `categories` (the built-in ones) and `own_categories` (its brand's own, from
`brands[].categories`), put there by routing when it builds the payload (`monitor.pipeline.route.messages`).
A payload without them (queued before they were added) offers sentiment and complaint only. Each option's value
is `FIELD=VALUE|<what the buttons carry>`, as `monitor.web.slack_actions.parse_actions` reads it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from alerts.slack_text import clean, plain_label

#: Slack's static_select limits (Block Kit reference): options or option groups, at most 100 options in each
#: group and 100 groups, option text and group label at most 75 characters, option value at most 150. The menu
#: keeps to 100 options in all, so it stays valid whichever way Slack counts them.
MENU_OPTIONS_MAX = 100
LABEL_MAX = 75
VALUE_MAX = 150
SENTIMENT_OPTIONS = (
    ("sentiment=negative", "Negative"),
    ("sentiment=neutral", "Neutral"),
    ("sentiment=positive", "Positive"),
)
COMPLAINT_OPTIONS = (
    ("complaint=yes", "A complaint"),
    ("complaint=no", "Not a complaint"),
)


def _names(value: Any) -> list[str]:
    """Return the category names a payload lists, without ones a menu value cannot carry ("|" ends the field)."""
    listed = value if isinstance(value, list | tuple) else []
    return [str(name) for name in listed if str(name) and "|" not in str(name)]


def _option(choice: str, label: str, carried: str) -> dict[str, Any] | None:
    value = f"{choice}|{carried}"
    if len(value) > VALUE_MAX:  # a cut value would carry broken JSON, and the click would be refused
        return None
    return {"text": {"type": "plain_text", "text": label[:LABEL_MAX]}, "value": value}


def _group(label: str, choices: Iterable[tuple[str, str]], carried: str, room: int) -> dict[str, Any] | None:
    options = [o for o in (_option(choice, text, carried) for choice, text in choices) if o is not None][:room]
    if not options:
        return None
    return {"label": {"type": "plain_text", "text": label[:LABEL_MAX]}, "options": options}


def category_groups(payload: Mapping[str, Any]) -> list[tuple[str, Sequence[tuple[str, str]]]]:
    """Return the menu's category groups: the built-in categories, then the brand's own (labels made safe)."""
    built_in = _names(payload.get("categories"))
    own = [name for name in _names(payload.get("own_categories")) if name not in built_in]
    groups: list[tuple[str, Sequence[tuple[str, str]]]] = []
    if built_in:
        groups.append(("Category", [(f"urgency_category={name}", clean(name.replace("_", " "))) for name in built_in]))
    if own:
        suffix = "'s own"
        brand = plain_label(str(payload.get("brand") or "The brand"), LABEL_MAX - len(suffix))
        groups.append((brand + suffix, [(f"urgency_category={name}", plain_label(name.replace("_", " "), LABEL_MAX))
                                        for name in own]))
    return groups


def reclassify_menu(payload: Mapping[str, Any], carried: str) -> dict[str, Any] | None:
    """Return the Reclassify static_select: sentiment, complaint, then the built-in and the brand's categories.

    None when no option's value fits in Slack's 150 characters (Slack refuses a menu without options).
    """
    groups = [("Sentiment", SENTIMENT_OPTIONS), ("Complaint", COMPLAINT_OPTIONS), *category_groups(payload)]
    option_groups, room = [], MENU_OPTIONS_MAX
    for label, choices in groups:
        group = _group(label, choices, carried, room)
        if group is not None:
            option_groups.append(group)
            room -= len(group["options"])
    if not option_groups:
        return None
    return {
        "type": "static_select",
        "action_id": "reclassify",
        "placeholder": {"type": "plain_text", "text": "Reclassify"},
        "option_groups": option_groups,
    }
