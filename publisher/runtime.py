"""Builds the running worker from settings: engine, queue, clients, store, pipeline."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import requests
from sqlalchemy import Engine

from publisher.daemon import Daemon
from publisher.db import make_engine
from publisher.metrics import Metrics
from publisher.notify import SystemdNotifier
from publisher.observer import Observer, Observers
from publisher.pipeline import Pipeline
from publisher.platforms import GraphTransport, make_target
from publisher.queue import Queue
from publisher.settings import Settings
from publisher.storage import LocalMediaStore
from publisher.tables import TARGETS
from publisher.webhooks import WebhookSender


def worker_name() -> str:
    """A name unique to this process, readable in the database and the logs."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Worker:
    engine: Engine
    queue: Queue
    pipeline: Pipeline
    daemon: Daemon
    session: requests.Session
    transport: GraphTransport
    metrics: Metrics | None = None
    webhooks: WebhookSender | None = None
    metrics_port: int | None = None

    def start_services(self, settings: Settings, *, endpoint: bool = True) -> None:
        """Start the webhook sender and (with `endpoint`) the metrics endpoint."""
        if self.webhooks is not None:
            self.webhooks.start()
        port = settings.metrics.port
        if endpoint and self.metrics is not None and port is not None:
            self.metrics_port = self.metrics.serve(settings.metrics.host, port)

    def observe(self, listener: Observer) -> None:
        """Add a listener to the daemon's and the pipeline's."""
        both = Observers(self.daemon.observer, listener)
        self.daemon.observer = self.pipeline.observer = both

    def close(self, *, flush_webhooks: bool = False) -> None:
        """Stop everything; `flush_webhooks` for the commands that exit at once."""
        if self.webhooks is not None:
            self.webhooks.close(flush=flush_webhooks)
        if self.metrics is not None:
            self.metrics.close()
        self.daemon.close()
        self.transport.close()
        self.session.close()
        self.engine.dispose()


def build_worker(
    settings: Settings,
    engine: Engine | None = None,
    *,
    only: frozenset[UUID] | None = None,
) -> Worker:
    """The worker; `only` restricts its claims to these posts (a backfill)."""
    engine = engine or make_engine(settings.database)
    queue = Queue(
        engine,
        worker_name(),
        timedelta(seconds=settings.worker.lease_seconds),
        max_lateness=timedelta(seconds=settings.worker.max_lateness_seconds),
        events=settings.webhooks.url is not None,
        only=only,
    )
    graph = settings.graph
    transport = GraphTransport(
        base_url=settings.graph_url,
        version=graph.version,
        connect_timeout=graph.connect_timeout_seconds,
        read_timeout=graph.read_timeout_seconds,
    )
    targets = {name: make_target(name, transport) for name in TARGETS}
    store = LocalMediaStore(settings.media.directory, settings.media_url)
    # One pooled session for creative downloads, shared by the attempt threads.
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=settings.worker.concurrency)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    pipeline = Pipeline(
        settings, queue, targets, store, session, usage=transport.last_usage
    )
    daemon = Daemon(settings.worker, queue, pipeline)
    worker = Worker(engine, queue, pipeline, daemon, session, transport)
    if settings.metrics.port is not None:
        worker.metrics = Metrics()
        worker.observe(worker.metrics)
    if SystemdNotifier.wanted():
        worker.observe(SystemdNotifier())
    if settings.webhooks.url is not None:
        interval = settings.worker.poll_interval_seconds
        worker.webhooks = WebhookSender(engine, settings.webhooks, interval)
    return worker
