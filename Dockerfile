# The publishing daemon as a container. Build: docker build -t publisher .
# Run:   docker run -e PUBLISHER_DATABASE_URL=postgresql+psycopg://... \
#            -e PUBLISHER_MEDIA_BASE_URL=https://media.example.com \
#            -v publisher-data:/var/lib/publisher publisher
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
ENV PUBLISHER_SANDBOX_MODE=off \
    PUBLISHER_MEDIA_DIRECTORY=/var/lib/publisher/media \
    PUBLISHER_LOG_FORMAT=json

# Exec form: the daemon is PID 1 and receives SIGTERM itself. --init-db creates
# missing tables first, so a new database needs no separate step.
ENTRYPOINT ["publisher"]
CMD ["run", "--init-db"]
