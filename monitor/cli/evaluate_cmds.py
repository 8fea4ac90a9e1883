"""`brandmon evaluate --stream FILE.jsonl -c CONFIG`: replay a labelled stream through classify and route, offline.

It extends the model command `brandmon evaluate` (monitor/cli/model_cmds.py), which reports the benchmarks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from monitor.cli.common import DEFAULT_CONFIG, fail
from monitor.cli.extend import extend_command

STREAM_HELP = (
    "With --stream FILE.jsonl -c CONFIG: replay a labelled stream (JSON Lines: id, text, brand, created_at, "
    "author_handle; labels any of sentiment, complaint, category, needs_reply, irony, scam) through the real "
    "classify and route steps in a temporary database, with Slack on the loopback and nothing sent, and report per "
    "route alert precision, recall and F1, high or critical precision, category macro-F1, thank precision and Slack "
    "messages per post (README, \"Measuring routing on a labelled stream\")."
)


def load_config(config_path: Path) -> Any:
    """Load the settings of `config_path`, or exit with one clear line."""
    from core.settings import ConfigError, load_settings

    try:
        return load_settings(config_path)
    except ConfigError as exc:
        return fail(str(exc))


def stream_options() -> list[click.Parameter]:
    """Return the options every labelled-stream command takes."""
    return [
        click.Option(["-c", "--config", "config_path"], default=DEFAULT_CONFIG, show_default=True,
                     type=click.Path(dir_okay=False, path_type=Path),
                     help="The YAML config whose classifier and routes are measured."),
        click.Option(["--poll-s"], type=click.IntRange(min=1), default=60, show_default=True,
                     help="Simulated seconds between polls: each interval's posts are routed together at its end."),
    ]


def replay_stream(stream: Path, settings: Any, *, limit: int | None, poll_s: int, folder: Path) -> Any:
    """Score the stream once with the configured classifier, or exit with one clear line."""
    from models import ModelUnavailable
    from monitor.evaluate.labels import StreamError
    from monitor.evaluate.replay import Replay

    try:
        return Replay(settings, stream, limit=limit, poll_s=poll_s, folder=folder)
    except (StreamError, ModelUnavailable) as exc:
        return fail(str(exc))


def describe_replay(replay: Any, stream: Path) -> str:
    """Return the line that says what was replayed and by which model."""
    skipped = sum(replay.skipped.values())
    extra = f"; {skipped} posts of brands not in the config left out" if skipped else ""
    return (f"brandmon evaluate: {replay.posts} posts of {stream.name} scored by {replay.classifier.describe()}, "
            f"routed in {replay.poll_s} s polls{extra}")


def _evaluate(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    from monitor.evaluate.figures import format_figures, stream_figures
    from monitor.evaluate.replay import replay_folder

    stream: Path = ours["stream"]
    settings = load_config(ours["config_path"])
    with replay_folder() as folder:
        replay = replay_stream(stream, settings, limit=theirs["limit"], poll_s=ours["poll_s"], folder=folder)
        run = replay.route()
    figures = stream_figures(settings, run)
    title = describe_replay(replay, stream)
    if theirs["as_json"]:
        click.echo(json.dumps({"stream": str(stream), "config": str(ours["config_path"]),
                               "model": replay.classifier.describe(), "poll_s": replay.poll_s,
                               "skipped_brands": replay.skipped, **figures.as_dict()}, indent=2))
    else:
        click.echo(format_figures(figures, title=title))


_evaluate.shared = ("limit", "as_json")  # type: ignore[attr-defined]


def register(main: click.Group) -> None:
    """Give `brandmon evaluate` its --stream mode."""
    if "evaluate" not in main.commands:
        return  # the model commands are not installed
    stream = click.Option(["--stream"], type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                          help="A labelled JSON Lines stream to replay through classify and route (needs -c).")
    extend_command(main, "evaluate", [stream, *stream_options()], _evaluate, active="stream", help_extra=STREAM_HELP)
