"""Builds the running worker from settings: engine, queue, clients, store, pipeline."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta

import requests
from sqlalchemy import Engine

from publisher.daemon import Daemon
from publisher.db import make_engine
from publisher.pipeline import Pipeline
from publisher.platforms import GraphTransport, make_target
from publisher.queue import Queue
from publisher.settings import Settings
from publisher.storage import LocalMediaStore
from publisher.tables import TARGETS


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

    def close(self) -> None:
        self.daemon.close()
        self.transport.close()
        self.session.close()
        self.engine.dispose()


def build_worker(settings: Settings, engine: Engine | None = None) -> Worker:
    engine = engine or make_engine(settings.database)
    queue = Queue(
        engine, worker_name(), timedelta(seconds=settings.worker.lease_seconds)
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
    return Worker(engine, queue, pipeline, daemon, session, transport)
