# The publishing daemon as a container. Build: docker build -t publisher .
# Run:   docker run -e PUBLISHER_DATABASE_URL=postgresql+psycopg://... \
#            -e PUBLISHER_MEDIA_BASE_URL=https://media.example.com \
#            -v publisher-data:/var/lib/publisher --stop-timeout 90 publisher
# Backfill after an outage, in a one-off container of the same image:
#   docker run --rm -it -e PUBLISHER_DATABASE_URL=... publisher \
#       backfill --since 2026-12-01T00:00Z --until 2026-12-04T00:00Z
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

RUN groupadd --system publisher \
    && useradd --system --gid publisher --home-dir /var/lib/publisher publisher \
    && mkdir -p /var/lib/publisher \
    && chown publisher:publisher /var/lib/publisher

WORKDIR /opt/publisher
COPY pyproject.toml README.md config.yaml schema.sql ./
COPY publisher ./publisher
RUN pip install .

USER publisher
WORKDIR /var/lib/publisher
# Prepared media (local store) and the SQLite file of the sandbox live here.
VOLUME ["/var/lib/publisher"]
# The container talks to the real Graph API. Required at run time:
#   PUBLISHER_DATABASE_URL   postgresql+psycopg://user:password@host:5432/publisher
#   PUBLISHER_MEDIA_BASE_URL the public URL that serves the media volume
#                            (/var/lib/publisher/media), for Meta to download from
# Optional:
#   PUBLISHER_WEBHOOKS_URL / PUBLISHER_WEBHOOKS_SECRET  signed failure webhooks
#   PUBLISHER_METRICS_PORT   Prometheus endpoint (9108 below); off when unset
#   PUBLISHER_WORKER_MAX_LATENESS_SECONDS  posts later than this end missed
ENV PUBLISHER_SANDBOX_MODE=off \
    PUBLISHER_MEDIA_DIRECTORY=/var/lib/publisher/media \
    PUBLISHER_LOG_FORMAT=json \
    PUBLISHER_METRICS_HOST=0.0.0.0
EXPOSE 9108

# Healthy: the database answers, the schema is current, and this container's
# daemon polled within health.max_poll_age_seconds (a stuck loop turns unhealthy).
HEALTHCHECK --interval=30s --timeout=15s --start-period=60s --retries=3 \
    CMD ["publisher", "health"]

# Exec form: the daemon is PID 1 and receives SIGTERM itself (it starts no child
# processes, so there are no zombies to reap and no init is needed); the first
# SIGTERM drains the attempts in flight, hence the longer --stop-timeout.
# --init-db creates missing tables first, so a new database needs no separate step.
STOPSIGNAL SIGTERM
ENTRYPOINT ["publisher"]
CMD ["run", "--init-db"]
