"""A private PostgreSQL cluster for the test run, started from the machine's binaries.

`PUBLISHER_TEST_DATABASE_URL` points the tests at a server of your own instead. As
root, the cluster runs as the unprivileged `postgres` user (PostgreSQL refuses root).
Nothing here skips: a test that asks for PostgreSQL fails when it cannot have it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Cluster:
    url: str
    directory: Path | None = None
    pg_ctl: str | None = None
    user: str | None = None

    def stop(self) -> None:
        if self.directory is None or self.pg_ctl is None:
            return
        _run(
            [
                self.pg_ctl,
                "-D",
                str(self.directory / "data"),
                "-m",
                "immediate",
                "stop",
            ],
            self.user,
        )
        shutil.rmtree(self.directory, ignore_errors=True)

    def restart(self) -> None:
        """Stop and start the server (for database-fault tests)."""
        assert self.directory is not None and self.pg_ctl is not None
        data = str(self.directory / "data")
        log = str(self.directory / "log")
        # The restarted server inherits pg_ctl's output: a file, never a pipe that
        # the test would wait on forever.
        _run(
            [self.pg_ctl, "-D", data, "-l", log, "-m", "fast", "-w", "restart"],
            self.user,
            capture=False,
        )


def _bindir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]),
    )
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server binaries (initdb) not found: install the `postgresql` "
            "package or set PUBLISHER_TEST_DATABASE_URL"
        )
    return Path(candidates[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(command: list[str], user: str | None, *, capture: bool = True) -> None:
    result = subprocess.run(
        command,
        user=user,
        capture_output=capture,
        stdin=subprocess.DEVNULL,
        text=True,
        check=False,
        cwd="/",
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )


def start_cluster() -> Cluster:
    external = os.environ.get("PUBLISHER_TEST_DATABASE_URL")
    if external:
        return Cluster(url=external)
    bindir = _bindir()
    user = None
    directory = Path(tempfile.mkdtemp(prefix="publisher-pg-"))
    if os.geteuid() == 0:
        user = "postgres"
        account = pwd.getpwnam(user)
        os.chown(directory, account.pw_uid, account.pw_gid)
    data = directory / "data"
    port = _free_port()
    _run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "publisher",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        ],
        user,
    )
    options = (
        f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    )
    pg_ctl = str(bindir / "pg_ctl")
    _run(
        [
            pg_ctl,
            "-D",
            str(data),
            "-l",
            str(directory / "log"),
            "-o",
            options,
            "-w",
            "start",
        ],
        user,
    )
    return Cluster(
        url=f"postgresql+psycopg://publisher@127.0.0.1:{port}/postgres",
        directory=directory,
        pg_ctl=pg_ctl,
        user=user,
    )
