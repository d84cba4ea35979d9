"""The chaos world: a PostgreSQL database, the Graph simulator, a creative server
that can hold downloads, and `publisher run` daemons as real subprocesses.

The harness only watches and kills from outside: it reads the database and the
simulator's logs, arms simulator faults, holds creative downloads or row locks,
and sends SIGKILL. Nothing in the product's code knows it is being tested.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import Engine, create_engine, insert, select, text

from publisher import sample
from publisher.simulator.server import SimulatorServer
from publisher.tables import facebook_pages, files, social_posts, worker_heartbeats
from tests.builders import PUBLISHER, image

# How long the world waits for a run's posts to end before calling them stuck.
END_TIMEOUT = 120.0
POLL = 0.02


class CreativeGate:
    """Serves one PNG at `/c/<key>.png`; downloads of a held key wait until it is
    let go, so a daemon can be caught right after its claim commit."""

    def __init__(self) -> None:
        self.png = image(1080, 1350)
        self._held: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                key = self.path.rsplit("/", 1)[-1].removesuffix(".png")
                with gate._lock:
                    event = gate._held.get(key)
                if event is not None:
                    event.wait(60)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    self.send_header("Content-Length", str(len(gate.png)))
                    self.end_headers()
                    self.wfile.write(gate.png)
                except OSError:
                    pass  # the daemon was killed while it waited

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, key: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/c/{key}.png"

    def hold(self, key: str) -> None:
        with self._lock:
            self._held[key] = threading.Event()

    def let_go(self, key: str) -> None:
        with self._lock:
            event = self._held.pop(key, None)
        if event is not None:
            event.set()

    def close(self) -> None:
        with self._lock:
            for event in self._held.values():
                event.set()
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Daemon:
    """One `publisher run` subprocess."""

    process: subprocess.Popen[bytes]
    log: Path

    @property
    def worker_prefix(self) -> str:
        # runtime.worker_name(): "<host>:<pid>:<random>"
        return f"{socket.gethostname()}:{self.process.pid}:"

    def owns(self, claimed_by: str | None) -> bool:
        return bool(claimed_by) and str(claimed_by).startswith(self.worker_prefix)

    def kill(self) -> float:
        """SIGKILL; returns the moment (monotonic) it was sent."""
        at = time.monotonic()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        return at

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


@dataclass
class Run:
    """The posts of one run (each on a page of its own) and what happened to them."""

    label: str
    posts: list[UUID]
    accounts: dict[UUID, str]  # post -> its page's IG user id
    key: str
    killed_at: float | None = None
    victims: list[UUID] = field(default_factory=list)
    takeovers: list[float] = field(default_factory=list)
    # Why the run did not reach its point (it is still killed and checked).
    missed: str | None = None


@dataclass
class Verdict:
    posts: int = 0
    duplicates: int = 0
    stuck: int = 0
    lost: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


class ChaosWorld:
    """One database and the daemons that work on it, against a shared simulator."""

    def __init__(
        self,
        database_url: str,
        simulator: SimulatorServer,
        gate: CreativeGate,
        media_url: str,
        workdir: Path,
        lease_seconds: int,
    ) -> None:
        self.url = database_url
        self.engine: Engine = create_engine(database_url, pool_size=4)
        self.simulator = simulator
        self.gate = gate
        self.media_url = media_url
        self.workdir = workdir
        self.lease_seconds = lease_seconds
        self._logs = 0
        with self.engine.begin() as conn:
            self.brand = sample.insert_brand(conn)
            self.user = sample.insert_user(conn)
            self.template = sample.insert_template(conn, "chaos")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PUBLISHER_")}
        env.update(
            {
                "PUBLISHER_DATABASE_URL": self.url,
                "PUBLISHER_DATABASE_POOL_SIZE": "4",
                "PUBLISHER_GRAPH_BASE_URL": self.simulator.url,
                "PUBLISHER_GRAPH_READ_TIMEOUT_SECONDS": "60",
                "PUBLISHER_MEDIA_BASE_URL": self.media_url,
                "PUBLISHER_MEDIA_DIRECTORY": str(self.workdir / "media"),
                "PUBLISHER_MEDIA_FETCH_TIMEOUT_SECONDS": "60",
                "PUBLISHER_SANDBOX_MODE": "off",
                "PUBLISHER_WORKER_LEASE_SECONDS": str(self.lease_seconds),
                "PUBLISHER_WORKER_POLL_INTERVAL_SECONDS": "0.2",
                "PUBLISHER_WORKER_RETRY_BASE_SECONDS": "0.5",
                "PUBLISHER_WORKER_RETRY_MAX_SECONDS": "2",
                "PUBLISHER_WORKER_CONTAINER_RECHECK_SECONDS": "0.3",
                "PUBLISHER_WORKER_SHUTDOWN_GRACE_SECONDS": "5",
                "PUBLISHER_LOG_FORMAT": "json",
                "PUBLISHER_LOG_LEVEL": "info",
            }
        )
        return env

    def start_daemon(self) -> Daemon:
        self._logs += 1
        log = self.workdir / f"daemon-{self._logs}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [PUBLISHER, "run"],
                cwd=self.workdir,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return Daemon(process, log)

    def new_run(self, label: str, count: int, *, hold_creative: bool = False) -> Run:
        """`count` posts due now, each on a new page known to the simulator; with
        `hold_creative`, their creative downloads wait until `gate.let_go`."""
        key = uuid4().hex
        if hold_creative:
            self.gate.hold(key)
        posts: list[UUID] = []
        accounts: dict[UUID, str] = {}
        with self.engine.begin() as conn:
            file_id = uuid4()
            conn.execute(
                insert(files).values(
                    id=file_id,
                    path=f"creatives/{file_id}/c.png",
                    name="c.png",
                    public=True,
                    url=self.gate.url(key),
                    mime="image/png",
                    created_at=datetime.now(UTC),
                )
            )
            instance = sample.insert_instance(conn, self.brand, self.template, file_id)
            pages = [sample.insert_page(conn, self.brand) for _ in range(count)]
            rows = conn.execute(
                select(facebook_pages).where(facebook_pages.c.id.in_(pages))
            ).all()
        for page in rows:
            self.simulator.state.register_account(
                page_id=page.facebook_page_id,
                ig_user_id=page.instagram_business_account_id,
                access_token=page.access_token,
                username="harbor.realty",
            )
        due = datetime.now(UTC) - timedelta(seconds=1)
        with self.engine.begin() as conn:
            for n, page in enumerate(rows):
                post = sample.insert_post(
                    conn,
                    brand=self.brand,
                    user=self.user,
                    page=page.id,
                    due_at=due,
                    caption=f"{label} {key[:8]} #{n}",
                    template_instance=instance,
                )
                posts.append(post)
                accounts[post] = page.instagram_business_account_id
        return Run(label, posts, accounts, key)

    def rows(self, posts: Iterable[UUID]) -> dict[UUID, Any]:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(social_posts).where(social_posts.c.id.in_(list(posts)))
            ).all()
        return {row.id: row for row in found}

    def wait_until(
        self, condition: Callable[[], bool], timeout: float, what: str
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            time.sleep(POLL)

    def polling(self, daemon: Daemon) -> bool:
        """Whether the daemon has polled (its heartbeat row exists)."""
        query = select(worker_heartbeats.c.worker).where(
            worker_heartbeats.c.pid == daemon.process.pid
        )
        with self.engine.connect() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def waiting_on_locks(self, column: str) -> int:
        """Backends of this database blocked on a row lock in an UPDATE naming
        `column` (the harness holds the lock)."""
        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE :pattern"
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query, {"pattern": f"%{column}%"}).scalar_one())

    def settle(
        self, run: Run, dead: list[Daemon], timeout: float = END_TIMEOUT
    ) -> None:
        """Wait for the run's posts to end, noting when each post the dead daemons
        held was taken over: claimed by another daemon, or ended by one."""
        pending_takeover = set(run.victims)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.rows(run.posts)
            now = time.monotonic()
            for post in list(pending_takeover):
                row = rows[post]
                dead_owner = any(d.owns(row.claimed_by) for d in dead)
                if not dead_owner and (row.claimed_by or row.executed_at):
                    pending_takeover.discard(post)
                    assert run.killed_at is not None
                    run.takeovers.append(now - run.killed_at)
            if not pending_takeover and all(
                row.executed_at is not None and row.claimed_by is None
                for row in rows.values()
            ):
                return
            time.sleep(0.05)

    def verify(self, run: Run) -> Verdict:
        """At most one publish per post, none left claimed or in publish-sent,
        each one ended: published as the log says, or failed with a reason."""
        verdict = Verdict(posts=len(run.posts))
        published: dict[UUID, list[str]] = {post: [] for post in run.posts}
        for entry in self.simulator.state.publishes():
            source = getattr(entry, "source_url", "") or ""
            for post in run.posts:
                if str(post) in source:
                    published[post].append(_media_id(entry))
        for post, row in self.rows(run.posts).items():
            media = published[post]
            verdict.outcomes[row.stage] += 1
            if len(media) > 1:
                verdict.duplicates += 1
                verdict.problems.append(f"{run.label} {post}: {len(media)} publishes")
            if row.executed_at is None or row.claimed_by or row.stage == "publish_sent":
                verdict.stuck += 1
                verdict.problems.append(
                    f"{run.label} {post}: stuck in {row.stage}, "
                    f"claimed by {row.claimed_by}, last error {row.last_error!r}"
                )
            elif row.stage == "published":
                if media and row.published_media_id not in media:
                    verdict.lost += 1
                    verdict.problems.append(f"{run.label} {post}: wrong media id")
            elif not row.failure:
                verdict.lost += 1
                verdict.problems.append(f"{run.label} {post}: ended with no reason")
        return verdict

    def close(self) -> None:
        self.engine.dispose()


def _media_id(entry: Any) -> str:
    return str(getattr(entry, "id", None) or getattr(entry, "post_id", ""))
