"""Add options to a command another module registered, keeping its own behaviour when they are not used."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click
from click.core import ParameterSource


def extend_command(
    group: click.Group,
    name: str,
    params: Sequence[click.Parameter],
    run: Callable[..., Any],
    *,
    active: str,
    help_extra: str,
) -> click.Command:
    """Replace `group`'s command `name` with one that also takes `params`.

    When the option `active` is given, `run(ours, theirs)` handles the call: `ours` holds the values of `params`,
    `theirs` those of the command's own parameters, and every one of its own options given on the command line
    besides those named in `run.shared` (a tuple, default none) is refused as not meant for this mode. Otherwise
    the command runs as before.
    """
    base = group.commands[name]
    if any(p.name == active for p in base.params):
        return base  # extended already (the group was built twice)
    if base.callback is None:
        raise ValueError(f"command {name!r} has no callback to extend")
    callback = base.callback
    ours = {str(p.name) for p in params}
    shared = set(getattr(run, "shared", ()))

    def invoke(**values: Any) -> Any:
        ctx = click.get_current_context()
        mine = {key: values.pop(key) for key in ours}
        if mine.get(active) in (None, False, ()):
            return ctx.invoke(callback, **values)
        for param in base.params:
            if param.name in shared or param.name is None:
                continue
            if ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE:
                flag = param.opts[0] if isinstance(param, click.Option) else param.human_readable_name
                raise click.UsageError(f"{flag} does not go with --{active.replace('_', '-')}")
        return run(mine, values)

    command = click.Command(
        name, params=[*base.params, *params], callback=invoke, help=f"{base.help or ''}\n\n{help_extra}",
        short_help=base.short_help, context_settings=base.context_settings, epilog=base.epilog,
    )
    group.add_command(command)
    return command
