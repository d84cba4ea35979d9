"""The labelled kill points and the random-kill rounds.

Each labelled run makes fresh posts (one per page), lets the running daemon take
them to the point, starts a new daemon (which becomes the next run's victim),
SIGKILLs the first one there, and checks the outcome. How the run is held at its point:

- after_claim: the creative download is held by the harness's creative server.
- after_container_create: the simulator creates the container and holds the
  reply (`apply_then_hang` on create_container).
- after_container_saved: the container id is committed; the status read hangs.
- publish_applied_reply_dropped: the simulator applies media_publish and holds
  the reply, which is never sent (`apply_then_hang`).
- after_reply: the reply came and the media id is committed; the permalink read
  hangs, so the final commit has not happened.
- during_result_commit: the harness holds the post rows' lock from its own
  connection, so the commit of the media id after the reply blocks.

The successor is started and polling before the kill, so the time from the kill
to the takeover is the rest of the victim's lease plus a poll.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from publisher.tables import social_posts
from tests.chaos.world import ChaosWorld, Daemon, Run, Verdict

HOLD = 40.0  # seconds a simulator fault keeps a call waiting; the kill comes first
REACH = 30.0  # seconds a run may take to reach its point


@dataclass
class Figures:
    """What the runs of one label added up to."""

    runs: int = 0
    posts: int = 0
    duplicates: int = 0
    stuck: int = 0
    lost: int = 0
    missed: int = 0
    takeovers: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, run: Run, verdict: Verdict) -> None:
        self.runs += 1
        self.posts += verdict.posts
        self.duplicates += verdict.duplicates
        self.stuck += verdict.stuck
        self.lost += verdict.lost
        self.takeovers.extend(run.takeovers)
        self.problems.extend(verdict.problems)
        if run.missed:
            self.missed += 1
            self.problems.append(f"{run.label}: point missed: {run.missed}")


def _fault(world: ChaosWorld, run: Run, operation: str, kind: str) -> None:
    for account in run.accounts.values():
        world.simulator.state.add_fault(
            operation=operation, kind=kind, account=account, delay=HOLD
        )


def _stages(world: ChaosWorld, run: Run) -> list[str]:
    return [row.stage for row in world.rows(run.posts).values()]


def _containers_made(world: ChaosWorld, run: Run) -> bool:
    made = {c.source_url for c in world.simulator.state.containers()}
    return all(any(str(post) in url for url in made) for post in run.posts)


def _published(world: ChaosWorld, run: Run) -> bool:
    sources = [m.source_url for m in world.simulator.state.publishes()]
    return all(any(str(post) in url for url in sources) for post in run.posts)


def _all_claimed(world: ChaosWorld, run: Run, daemon: Daemon) -> bool:
    return all(daemon.owns(row.claimed_by) for row in world.rows(run.posts).values())


class LabelledPoint:
    """Arms the hold for one point, and says when the daemon has reached it."""

    def __init__(
        self,
        name: str,
        arm: Callable[[ChaosWorld, Run], None],
        reached: Callable[[ChaosWorld, Run], bool],
        hold_creative: bool = False,
    ) -> None:
        self.name = name
        self.arm = arm
        self.reached = reached
        self.hold_creative = hold_creative


def _no_arm(world: ChaosWorld, run: Run) -> None:
    return None


POINTS = [
    LabelledPoint(
        "after_claim",
        _no_arm,
        lambda w, r: all(s == "queued" for s in _stages(w, r)),
        hold_creative=True,
    ),
    LabelledPoint(
        "after_container_create",
        lambda w, r: _fault(w, r, "create_container", "apply_then_hang"),
        _containers_made,
    ),
    LabelledPoint(
        "after_container_saved",
        lambda w, r: _fault(w, r, "container_status", "hang"),
        lambda w, r: all(s == "container" for s in _stages(w, r)),
    ),
    LabelledPoint(
        "publish_applied_reply_dropped",
        lambda w, r: _fault(w, r, "media_publish", "apply_then_hang"),
        _published,
    ),
    LabelledPoint(
        "after_reply",
        lambda w, r: _fault(w, r, "permalink", "hang"),
        lambda w, r: all(row.published_media_id for row in w.rows(r.posts).values()),
    ),
    # during_result_commit is driven by `_run_result_commit` (it needs a lock).
]
POINT_NAMES = [p.name for p in POINTS] + ["during_result_commit"]


def run_point(
    world: ChaosWorld, victim: Daemon, name: str, posts: int
) -> tuple[Run, Verdict, Daemon]:
    """One labelled run; returns it, its verdict and the daemon now running."""
    if name == "during_result_commit":
        return _run_result_commit(world, victim, posts)
    point = next(p for p in POINTS if p.name == name)
    run = world.new_run(name, posts, hold_creative=point.hold_creative)
    point.arm(world, run)
    _reach(
        world,
        run,
        lambda: _all_claimed(world, run, victim) and point.reached(world, run),
    )
    return _kill_and_settle(world, victim, run)


def _reach(world: ChaosWorld, run: Run, condition: Callable[[], bool]) -> None:
    """Wait for the point; a run that never gets there is noted, and still
    killed and checked (nothing may be lost either way)."""
    try:
        world.wait_until(condition, REACH, f"{run.label} to be reached")
    except TimeoutError as exc:
        run.missed = str(exc)


def _run_result_commit(
    world: ChaosWorld, victim: Daemon, posts: int
) -> tuple[Run, Verdict, Daemon]:
    run = world.new_run("during_result_commit", posts)
    for account in run.accounts.values():
        world.simulator.state.add_fault(
            operation="media_publish", kind="slow", account=account, delay=1.5
        )
    _reach(world, run, lambda: all(s == "publish_sent" for s in _stages(world, run)))
    with world.engine.connect() as conn, conn.begin() as tx:
        conn.execute(
            select(social_posts.c.id)
            .where(social_posts.c.id.in_(run.posts))
            .with_for_update()
        )
        if not run.missed:
            _reach(
                world,
                run,
                lambda: world.waiting_on_locks("published_media_id") >= posts,
            )
        result = _kill(world, victim, run)
        tx.rollback()
    return _settle(world, victim, run, result)


def _kill(
    world: ChaosWorld, victim: Daemon, run: Run, *, successor_first: bool = True
) -> Daemon:
    """SIGKILL the victim and return the daemon that replaces it. With
    `successor_first` the replacement is started, and polling, before the kill
    (the victim waits at its point meanwhile), so the takeover time measures the
    lease running out rather than a daemon starting up."""
    successor = world.start_daemon() if successor_first else None
    if successor is not None:
        world.wait_until(lambda: world.polling(successor), REACH, "the successor")
    run.victims = [
        p for p, row in world.rows(run.posts).items() if victim.owns(row.claimed_by)
    ]
    run.killed_at = victim.kill()
    return successor or world.start_daemon()


def _settle(
    world: ChaosWorld, victim: Daemon, run: Run, successor: Daemon
) -> tuple[Run, Verdict, Daemon]:
    world.gate.let_go(run.key)
    world.settle(run, [victim])
    return run, world.verify(run), successor


def _kill_and_settle(
    world: ChaosWorld, victim: Daemon, run: Run
) -> tuple[Run, Verdict, Daemon]:
    successor = _kill(world, victim, run)
    return _settle(world, victim, run, successor)


def random_round(
    world: ChaosWorld,
    daemons: list[Daemon],
    posts: int,
    spread: float,
    rng: random.Random,
) -> tuple[Run, Verdict]:
    """Posts due now for three running daemons; one of them is killed at a random
    moment within `spread` seconds and started again. Every call is slowed a
    little so that the moment falls anywhere in the pipeline."""
    run = world.new_run("random", posts)
    for account in run.accounts.values():
        world.simulator.state.add_fault(
            operation="any", kind="slow", account=account, delay=0.15, times=50
        )
    time.sleep(rng.uniform(0, spread))
    index = rng.randrange(len(daemons))
    victim = daemons[index]
    # The two others take over; the victim is started again after the kill.
    daemons[index] = _kill(world, victim, run, successor_first=False)
    world.settle(run, [victim])
    return run, world.verify(run)
