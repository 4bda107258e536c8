"""`python -m api`: the HTTP API on API_HOST:API_PORT (127.0.0.1:8000 by default)."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from config.settings import Settings
from telemetry.setup import configure_logging, install_runtime


def main() -> None:
    settings = Settings()
    configure_logging(settings)
    install_runtime(settings, settings.api_metrics_port)  # before the app's client connects
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_level="warning")


if __name__ == "__main__":
    main()
