"""How every command starts: load the settings or exit with the config code.

The top-level CLI and the `publisher posts` group both begin this way; the posts
group is imported by the top-level one, so the shared start lives below both.
"""

from __future__ import annotations

import sys

import click

from publisher.logs import configure_logging
from publisher.settings import Settings, SettingsError, load_settings

# Exit codes an operator's script can tell apart: a bad config file or variable,
# and a database (or other service) that cannot be reached.
EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 5


def settings_or_exit() -> Settings:
    """The validated settings with logging configured; a refusal is printed (it
    names the key and the rule) and ends the command with EXIT_CONFIG."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        click.echo(f"publisher: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    configure_logging(settings.log.format, settings.log.level)
    return settings
