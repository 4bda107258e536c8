"""Every setting in one place, read from the environment (or a .env file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from limits import parse_many
from pydantic import AfterValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _rate_limit(text: str) -> str:
    try:
        parse_many(text)
    except ValueError:
        raise ValueError("must be rates in `limits` notation, such as 50/second;1000/minute") from None
    return text


RateLimit = Annotated[str, AfterValidator(_rate_limit)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    temporal_address: str = Field("localhost:7233", description="Temporal frontend host:port.")
    temporal_namespace: str = Field("default", description="Temporal namespace.")
    temporal_task_queue: str = Field("refund-cases", description="Task queue the worker polls.")
    temporal_api_key: SecretStr | None = Field(
        None, description="API key (Temporal Cloud: address <ns>.<account>.tmprl.cloud:7233 or the regional endpoint); turns TLS on."
    )
    temporal_tls_cert: Path | None = Field(None, description="mTLS client certificate (PEM).")
    temporal_tls_key: Path | None = Field(None, description="mTLS client key (PEM).")
    temporal_tls_ca: Path | None = Field(None, description="CA bundle for the server certificate (PEM).")
    database_url: str = Field(
        "sqlite:///.data/cases.db",
        description="Case store (SQLAlchemy URL): SQLite, or PostgreSQL as postgresql+psycopg://user:password@host:5432/cases.",
    )
    refund_gateway: Literal["embedded", "embedded-pending", "provider-double"] = Field(
        "embedded",
        description="embedded settles refunds at once; embedded-pending waits for refund_settled; provider-double "
        "behaves like a real provider, failures included (tests and the chaos run).",
    )
    provider_double_url: str = Field("sqlite:///.data/provider.db", description="provider-double: its own database.")
    provider_unavailable_rate: float = Field(0.0, ge=0, le=1, description="provider-double: share of calls answered 503.")
    provider_timeout_rate: float = Field(0.0, ge=0, le=1, description="provider-double: share of refunds whose answer is lost after the money moved.")
    provider_lose_first_answer: bool = Field(False, description="provider-double: lose the first answer of every refund after the money moved.")
    provider_reject_amount: int | None = Field(
        None, description="provider-double: refunds of exactly this many minor units are rejected for good (402)."
    )
    provider_key_retention_seconds: int = Field(
        86_400, ge=0, description="provider-double: how long it remembers an idempotency key (24 h, as common providers do)."
    )
    activity_threads: int = Field(16, ge=1, description="Threads for the worker's blocking activities.")
    evidence_store: str = Field(
        ".data/evidence",
        description="Where evidence files live, encrypted with the codec's keys: a folder, or s3://bucket[/prefix] (an S3-compatible store; credentials from the AWS_* variables).",
    )
    evidence_s3_endpoint: str | None = Field(
        None, description="s3:// evidence stores other than AWS S3: the endpoint URL (MinIO, Ceph, a cloud's S3 API)."
    )
    evidence_max_bytes: int = Field(
        25_000_000, ge=1, description="The largest evidence file the API and the CLI take; each policy sets its own limit under it."
    )
    codec: Literal["auto", "on", "off"] = Field("auto", description="Payload encryption. auto: on when CODEC_KEYS is set or the key file exists.")
    codec_keys: SecretStr | None = Field(None, description="id=base64key[,id=base64key…] (AES-256); the first encrypts.")
    codec_key_file: Path = Field(Path(".data/codec-keys.json"), description='Key file {"current": id, "keys": {id: base64key}}.')
    codec_server_host: str = Field("127.0.0.1", description="Where the codec server listens (loopback by default).")
    codec_server_port: int = Field(8081, description="The codec server's port.")
    codec_server_auth: Literal["oidc", "loopback"] = Field(
        "oidc",
        description="Who the codec server serves. oidc: UI users whose access token (the UI's codec.passAccessToken) the identity provider signed, in CODEC_OIDC_GROUP. loopback: callers on this machine only (`make run`).",
    )
    codec_oidc_issuer: str | None = Field(None, description="oidc: the identity provider's issuer URL (the tokens' iss).")
    codec_oidc_audience: str | None = Field(None, description="oidc: the audience the tokens must carry (aud).")
    codec_oidc_group: str | None = Field(None, description="oidc: the group whose members may read payloads.")
    codec_oidc_groups_claim: str = Field("groups", description="oidc: the claim that lists a user's groups.")
    codec_oidc_jwks_url: str | None = Field(None, description="oidc: the provider's key set; unset: read from its OpenID configuration.")
    codec_server_encode: bool = Field(
        False, description="Serve /encode too (only the UI's write actions use it; it seals anything with the production key)."
    )
    codec_server_tls_cert: Path | None = Field(
        None, description="The codec server's TLS certificate (PEM); the UI passes tokens to https endpoints only."
    )
    codec_server_tls_key: Path | None = Field(None, description="The codec server's TLS key (PEM).")
    codec_ui_origin: str = Field("http://localhost:8233", description="The Temporal UI's origin, the only one CORS admits.")

    worker_build_id: str | None = Field(
        None,
        description="Worker Versioning: this worker's build id (a release's, e.g. its image tag); unset: unversioned. Cases start on the deployment's current version and stay on it until they continue as new (docs/changing-workflow-code.md).",
    )
    worker_deployment_name: str = Field("refund-cases", description="Worker Versioning: the deployment this worker's build belongs to.")
    worker_max_cached_cases: int = Field(
        500,
        ge=0,
        description="Cases a worker keeps in memory between their messages (the SDK's sticky cache), about 0.2 MB each; fewer saves memory, costs replays.",
    )
    metrics_host: str = Field("127.0.0.1", description="Where the Prometheus endpoints listen (0.0.0.0 in a container).")
    worker_metrics_port: int = Field(9464, ge=0, description="The worker's Prometheus endpoint, /metrics (0: off).")
    api_metrics_port: int = Field(9465, ge=0, description="The HTTP API's Prometheus endpoint, /metrics (0: off).")
    service_name: str = Field("refund-cases", description="The `service` label of every metric and the service name of traces.")
    log_format: Literal["text", "json"] = Field("text", description="json: one JSON object per line, with case_id where there is one.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="The lowest level logged.")
    otel_exporter_otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP collector (http://host:4318): traces of workflows and activities; needs the otel extra."
    )

    api_host: str = Field("127.0.0.1", description="Where the HTTP API listens.")
    api_port: int = Field(8000, description="The HTTP API's port.")
    api_tokens: SecretStr | None = Field(
        None, description='The API\'s callers as JSON: [{"name", "token_sha256", "role", "seller_ids", "buyer_ids", "rate_limit"}].'
    )
    api_tokens_file: Path = Field(Path(".data/api-tokens.json"), description="The same, in a file (used when API_TOKENS is unset).")
    api_rate_limit: RateLimit = Field(
        "100/second",
        description="Calls each API token may make (`limits` notation); a caller's `rate_limit` overrides it. Past it: 429 with Retry-After.",
    )
    webhook_private_targets: bool = Field(
        False,
        description="Let webhook URLs reach loopback, private and link-local addresses. Off, such a URL is refused when "
        "subscribed and at each delivery, so a subscriber cannot reach this service's own network; `make run` turns it on.",
    )

    @classmethod
    def table(cls) -> str:
        """The configuration table (docs/configuration.md): every setting, its variable, default and meaning."""
        rows = ["| variable | default | meaning |", "|---|---|---|"]
        for name, field in cls.model_fields.items():
            default = "—" if field.default is None else f"`{field.default}`".replace("`False`", "`false`").replace("`True`", "`true`")
            rows.append(f"| `{name.upper()}` | {default} | {field.description} |")
        return "\n".join(rows)


if __name__ == "__main__":
    print(Settings.table())  # `python -m config.settings`: the table, for docs/configuration.md
