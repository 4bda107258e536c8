# The Refund Cases image: one image, three commands (worker, HTTP API, codec server); see
# docker-compose.yml and docs/deploying.md.
FROM python:3.11.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOG_FORMAT=json \
    METRICS_HOST=0.0.0.0 \
    API_HOST=0.0.0.0 \
    CODEC_SERVER_HOST=0.0.0.0

WORKDIR /app

COPY pyproject.toml README.md ./
COPY api ./api
COPY activities ./activities
COPY cases ./cases
COPY codec ./codec
COPY config ./config
COPY devserver ./devserver
COPY starter ./starter
COPY replay ./replay
COPY store ./store
COPY telemetry ./telemetry
COPY testkit ./testkit
COPY workflows ./workflows
COPY worker.py ./
# Bytecode is written at build time: the workflow sandbox re-imports the workflow modules for every
# case, and a container's file system may be read-only.
RUN pip install '.[otel]' && python -m compileall -q /app

RUN useradd --system --uid 10001 --home-dir /app cases \
    && install -d -o 10001 -m 700 /var/lib/refund-cases/evidence
USER 10001

# 8000 HTTP API, 8081 codec server, 9464 worker metrics, 9465 API metrics.
EXPOSE 8000 8081 9464 9465

# The worker's health: its metrics endpoint answers (compose overrides this for the API and codec server).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('WORKER_METRICS_PORT', '9464')}/metrics\", timeout=4)"]

CMD ["python", "-m", "worker"]
