# The publishing daemon as a container. Build: docker build -t publisher .
# Run:   docker run -e PUBLISHER_DATABASE_URL=postgresql+psycopg://... publisher
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
# The container talks to real services unless told otherwise.
ENV PUBLISHER_SANDBOX_SIMULATOR=false \
    PUBLISHER_SANDBOX_SERVE_MEDIA=false \
    PUBLISHER_GRAPH_BASE_URL=https://graph.facebook.com \
    PUBLISHER_LOG_FORMAT=json

# Exec form: the daemon is PID 1 and receives SIGTERM itself.
ENTRYPOINT ["publisher"]
CMD ["run"]
