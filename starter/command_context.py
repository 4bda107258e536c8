"""What every `refund-cases` command shares: the settings its entry point read once, and the case store."""

from __future__ import annotations

from codec.encryption import Keyring
from config.settings import Settings
from store.database import Store
from store.evidence import EvidenceFiles, blobs_at

_read: list[Settings] = []


def read_once(settings: Settings) -> None:
    """Called by `starter.cli.main`, the entry point, before any command runs."""
    _read[:] = [settings]


def current_settings() -> Settings:
    """The settings `starter.cli.main` read from the environment for this command."""
    if not _read:
        raise RuntimeError("refund-cases commands run under starter.cli.main, which reads the settings")
    return _read[0]


def open_store(settings: Settings) -> Store:
    store = Store(settings.database_url)
    store.migrate()
    return store


def evidence_files(settings: Settings, store: Store) -> EvidenceFiles:
    """The evidence store the settings name, sealed with the codec's keys (plain when the codec is off)."""
    return EvidenceFiles(
        blobs_at(settings.evidence_store, settings.evidence_s3_endpoint), Keyring.configured(settings), store, settings.evidence_max_bytes
    )
