"""Runs the chaos plan: labelled kill points in lanes, then (beside them) random
kills with three daemons on one database, and sums up the figures.

A lane is one database with one daemon at a time: each labelled run kills the
running daemon at its point, and the daemon started to take over becomes the
next run's victim. Lanes run side by side to use the waits (mostly a lease
running out); they share the simulator, whose faults are scoped to each run's
accounts.
"""

from __future__ import annotations

import random
import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from pathlib import Path

from sqlalchemy import create_engine, text
from tabulate import tabulate

from publisher.db import init_schema
from publisher.simulator.server import SimulatorServer
from publisher.storage import MediaServer
from tests.chaos.points import POINT_NAMES, Figures, random_round, run_point
from tests.chaos.world import ChaosWorld, CreativeGate, Daemon

RANDOM = "random_kill_3_daemons"
HARNESS = "harness"
_databases = count()


@dataclass(frozen=True)
class Plan:
    runs_per_point: int = 50
    posts_per_run: int = 2
    rounds: int = 100
    round_posts: int = 12
    round_spread_seconds: float = 3.0
    lanes: int = 2
    lease_seconds: int = 5
    seed: int = 1


def new_database(cluster_url: str) -> str:
    """A fresh database with the schema, on the cluster `cluster_url` names."""
    name = f"chaos_{next(_databases)}_{random.randrange(10**6)}"
    admin = create_engine(cluster_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
    finally:
        admin.dispose()
    url = cluster_url.rsplit("/", 1)[0] + "/" + name
    engine = create_engine(url)
    try:
        init_schema(engine)
    finally:
        engine.dispose()
    return url


def run_plan(
    plan: Plan, cluster_url: str, workdir: Path, say: Callable[[str], None] = print
) -> dict[str, Figures]:
    """Every labelled point `runs_per_point` times and `rounds` random rounds."""
    figures = {name: Figures() for name in [*POINT_NAMES, RANDOM]}
    lock = threading.Lock()
    media_dir = workdir / "media"
    media_dir.mkdir(parents=True, exist_ok=True)
    with SimulatorServer() as simulator, MediaServer(media_dir) as media:
        gate = CreativeGate()

        def world(name: str) -> ChaosWorld:
            where = workdir / name
            where.mkdir(exist_ok=True)
            (where / "media").symlink_to(media_dir)
            return ChaosWorld(
                new_database(cluster_url),
                simulator,
                gate,
                media.url,
                where,
                plan.lease_seconds,
            )

        def lane(number: int) -> None:
            work = world(f"lane-{number}")
            order = [name for _ in range(plan.runs_per_point) for name in POINT_NAMES][
                number :: plan.lanes
            ]
            daemon = work.start_daemon()
            try:
                for done, name in enumerate(order, 1):
                    if daemon.process.poll() is not None:
                        with lock:
                            figures[name].problems.append(
                                f"lane {number}: daemon exited with "
                                f"{daemon.process.returncode} ({daemon.log})"
                            )
                        daemon = work.start_daemon()
                    run, verdict, daemon = run_point(
                        work, daemon, name, plan.posts_per_run
                    )
                    with lock:
                        figures[name].add(run, verdict)
                    if done % 10 == 0:
                        say(f"lane {number}: {done}/{len(order)} runs")
            finally:
                daemon.stop()
                work.close()

        def rounds() -> None:
            work = world("random")
            rng = random.Random(plan.seed)
            daemons: list[Daemon] = [work.start_daemon() for _ in range(3)]
            try:
                for done in range(1, plan.rounds + 1):
                    run, verdict = random_round(
                        work,
                        daemons,
                        plan.round_posts,
                        plan.round_spread_seconds,
                        rng,
                    )
                    with lock:
                        figures[RANDOM].add(run, verdict)
                    if done % 10 == 0:
                        say(f"random: {done}/{plan.rounds} rounds")
            finally:
                for daemon in daemons:
                    daemon.stop()
                work.close()

        errors: list[str] = []

        def guarded(body: Callable[[], None]) -> Callable[[], None]:
            def run() -> None:
                try:
                    body()
                except Exception as exc:
                    # The other lanes' figures still count; this is a problem too.
                    errors.append(f"chaos lane failed: {exc!r}")
                    say(errors[-1])

            return run

        jobs = [guarded(lambda n=n: lane(n)) for n in range(plan.lanes)]
        if plan.rounds:
            jobs.append(guarded(rounds))
        threads = [threading.Thread(target=job) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        gate.close()
    if errors:
        figures[HARNESS] = Figures(problems=errors)
    return figures


def table(figures: dict[str, Figures]) -> str:
    """The figures, one row per point and a total."""
    rows = []
    total = Figures()
    for name, f in figures.items():
        if not f.runs:
            continue
        rows.append(_row(name, f))
        total.runs += f.runs
        total.posts += f.posts
        total.duplicates += f.duplicates
        total.lost += f.lost
        total.stuck += f.stuck
        total.missed += f.missed
        total.takeovers.extend(f.takeovers)
    rows.append(_row("total", total))
    headers = [
        "point",
        "runs",
        "posts",
        "duplicates",
        "lost",
        "stuck",
        "missed",
        "takeovers",
        "median s",
        "worst s",
    ]
    return tabulate(rows, headers=headers, floatfmt=".2f")


def _row(name: str, f: Figures) -> list[object]:
    median = statistics.median(f.takeovers) if f.takeovers else None
    worst = max(f.takeovers) if f.takeovers else None
    return [
        name,
        f.runs,
        f.posts,
        f.duplicates,
        f.lost,
        f.stuck,
        f.missed,
        len(f.takeovers),
        median,
        worst,
    ]
