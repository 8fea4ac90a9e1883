"""`brandmon calibrate --stream FILE.jsonl -c CONFIG [--write]`: set route thresholds from labelled data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from monitor.cli.common import fail
from monitor.cli.evaluate_cmds import describe_replay, load_config, replay_stream, stream_options


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@click.command("calibrate")
@click.option("--stream", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The labelled JSON Lines stream (as for `brandmon evaluate --stream`).")
@click.option("--write", is_flag=True, help="Write the chosen thresholds into the config file (nothing else changes).")
@click.option("--limit", type=int, default=None, help="Use at most this many posts of the stream.")
@click.option("--json", "as_json", is_flag=True, help="Print the choices and figures as JSON.")
def calibrate_cmd(stream: Path, write: bool, limit: int | None, as_json: bool, config_path: Path,
                  poll_s: int) -> None:
    """Choose each route's min_urgency to reach its min_precision with the best recall on labelled data.

    The stream is scored once and routed twice through the real route step: with the thresholds of the config and
    with the chosen ones; both routings' precision and recall are printed. Exits 1 when a route's min_precision
    cannot be reached (that route keeps its threshold).
    """
    from core.settings import ConfigError
    from monitor.evaluate.calibrate import choose_thresholds, with_routes
    from monitor.evaluate.config_edit import write_route_thresholds
    from monitor.evaluate.figures import route_counts
    from monitor.evaluate.replay import replay_folder

    settings = load_config(config_path)
    if not any(rule.min_precision is not None for rule in settings.slack.routes):
        fail(f"{config_path}: no route states min_precision; add `min_precision: 0.9` to the routes to calibrate")
    with replay_folder() as folder:
        replay = replay_stream(stream, settings, limit=limit, poll_s=poll_s, folder=folder)
        before = replay.route(desc="routing as configured")
        routes, choices = choose_thresholds(settings, before.posts)
        calibrated = with_routes(settings, routes)
        after = replay.route(calibrated, desc="routing as calibrated")
    old, new = route_counts(settings.slack.routes, before.posts), route_counts(routes, after.posts)
    rows: list[dict[str, Any]] = []
    for choice in choices:
        rows.append({"route": choice.route, "min_precision": choice.min_precision, "before": choice.before,
                     "threshold": choice.threshold, "reached": choice.reached, "labelled": choice.labelled,
                     "precision_before": old[choice.route].precision, "recall_before": old[choice.route].recall,
                     "precision_after": new[choice.route].precision, "recall_after": new[choice.route].recall})
    changed = {c.route: c.threshold for c in choices if c.threshold is not None and c.threshold != c.before}
    if write and changed:
        try:
            write_route_thresholds(config_path, changed)
        except ConfigError as exc:
            fail(str(exc))
    if as_json:
        click.echo(json.dumps({"stream": str(stream), "config": str(config_path), "written": bool(write and changed),
                               "routes": rows}, indent=2))
    else:
        click.echo(describe_replay(replay, stream).replace("brandmon evaluate", "brandmon calibrate"))
        click.echo(f"{'route':<20} {'target':>6} {'min_urgency':>17} {'precision':>15} {'recall':>15}")
        for row in rows:
            threshold = (f"{row['before']:g} -> {row['threshold']:g}" if row["reached"]
                         else f"{row['before']:g} (kept)")
            click.echo(f"{row['route']:<20} {row['min_precision']:>6.2f} {threshold:>17} "
                       f"{_cell(row['precision_before']):>6} -> {_cell(row['precision_after']):<6} "
                       f"{_cell(row['recall_before']):>6} -> {_cell(row['recall_after']):<6}")
        for row in rows:
            if not row["reached"]:
                click.echo(f"brandmon calibrate: route {row['route']!r}: no threshold reaches precision "
                           f"{row['min_precision']:.2f} on {row['labelled']} labelled posts; kept {row['before']:g}")
        if changed:
            click.echo(f"brandmon calibrate: wrote {len(changed)} threshold(s) to {config_path}" if write
                       else "brandmon calibrate: run again with --write to save these thresholds")
        else:
            click.echo("brandmon calibrate: every threshold is already where it should be")
    if not all(c.reached for c in choices):
        raise SystemExit(1)


def register(main: click.Group) -> None:
    """Add `brandmon calibrate`."""
    if not any(param.name == "config_path" for param in calibrate_cmd.params):
        calibrate_cmd.params.extend(stream_options())
    main.add_command(calibrate_cmd)
