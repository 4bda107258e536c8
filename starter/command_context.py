"""What every `refund-cases` command shares: the settings its entry point read once, and the case store."""

from __future__ import annotations

import click

from config.settings import Settings
from store.database import Store


def current_settings() -> Settings:
    """The settings `starter.cli.main` read from the environment for this command."""
    settings = click.get_current_context().find_root().obj
    if not isinstance(settings, Settings):
        raise RuntimeError("refund-cases commands run under starter.cli.main, which reads the settings")
    return settings


def open_store(settings: Settings) -> Store:
    store = Store(settings.database_url)
    store.migrate()
    return store
