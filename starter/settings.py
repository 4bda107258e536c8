"""Every setting in one place, read from the environment (or a .env file)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    temporal_address: str = Field("localhost:7233", description="Temporal frontend host:port.")
    temporal_namespace: str = Field("default", description="Temporal namespace.")
    temporal_task_queue: str = Field("refund-cases", description="Task queue the worker polls.")
    temporal_api_key: SecretStr | None = Field(None, description="API key (Temporal Cloud); turns TLS on.")
    temporal_tls_cert: Path | None = Field(None, description="mTLS client certificate (PEM).")
    temporal_tls_key: Path | None = Field(None, description="mTLS client key (PEM).")
    temporal_tls_ca: Path | None = Field(None, description="CA bundle for the server certificate (PEM).")
    database_url: str = Field("sqlite:///.data/cases.db", description="Case store URL (SQLAlchemy).")
    refund_gateway: Literal["embedded", "embedded-pending"] = Field(
        "embedded", description="embedded settles refunds at once; embedded-pending waits for refund_settled."
    )
    activity_threads: int = Field(16, ge=1, description="Threads for the worker's blocking activities.")
