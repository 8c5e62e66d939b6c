"""A throwaway PostgreSQL cluster a test may stop and start again, on a free TCP port of 127.0.0.1.

Never the machine's shared server: the cluster is made by `initdb` from the `pgserver` wheel's own
PostgreSQL 16 binaries (part of the test extra) in a temporary directory. As root those binaries refuse
to run, so, the way pgserver itself does it, they run as a system user `pgserver` (created with
`useradd` when missing) and the data folder's parents get read/traverse permission for others.
`fsync` is off: the data is thrown away, and crash safety of the test cluster is not under test.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.process import free_port

SYSTEM_USER = "pgserver"


def _binaries() -> Path:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (as under CI); pgserver copes.
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH  # noqa: PLC0415 (test-only, pinned wheel)
    return Path(POSTGRES_BIN_PATH)


class StoppablePostgres:
    """One cluster in `data_dir`, listening on 127.0.0.1:`port` while started."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.bin = _binaries()
        self.log_path = data_dir / "postgres.log"
        self._user = SYSTEM_USER if os.geteuid() == 0 else None
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        """Create the cluster (trust authentication: loopback only, thrown away)."""
        pgdata = self.data_dir / "pgdata"
        if self._user is not None:
            _prepare_for(self._user, self.data_dir, self.bin)
        self._run("initdb", "-D", str(pgdata), "--auth=trust", "-U", "postgres", "--encoding=utf8", "-N")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c fsync=off -c max_connections=200"
        self._pg_ctl("-w", "-t", "30", "-l", str(self.log_path), "-o", options, "start")

    def stop(self) -> None:
        """Stop the server at once (`-m fast`: disconnect every client, roll back what is open)."""
        self._pg_ctl("-w", "-t", "30", "-m", "fast", "stop")

    def is_running(self) -> bool:
        """Whether the server is up (pg_ctl status)."""
        done = subprocess.run(
            self._as_user([str(self.bin / "pg_ctl"), "-D", str(self.data_dir / "pgdata"), "status"]),
            capture_output=True,
            check=False,
        )
        return done.returncode == 0

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir / "pgdata"), *args)

    def _run(self, program: str, *args: str) -> None:
        # Output goes to files, not pipes: pg_ctl start leaves the server holding its stdout.
        with tempfile.TemporaryFile() as output:
            done = subprocess.run(
                self._as_user([str(self.bin / program), *args]),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=False,
                timeout=60,
            )
            if done.returncode != 0:
                output.seek(0)
                text = output.read().decode(errors="replace")
                raise RuntimeError(f"{program} {' '.join(args)} failed ({done.returncode}):\n{text}")

    def _as_user(self, command: list[str]) -> list[str]:
        if self._user is None:
            return command
        return ["runuser", "-u", self._user, "--", *command]


def _prepare_for(user: str, data_dir: Path, binaries: Path) -> None:
    """Let `user` (created when missing) own the data folder and reach the binaries."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver.utils import (  # noqa: PLC0415 (test-only, pinned wheel)
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )
    ensure_user_exists(user)
    ensure_prefix_permissions(data_dir)
    ensure_prefix_permissions(binaries)
    ensure_folder_permissions(binaries, 0o055)
    ensure_folder_permissions(binaries.parent / "lib", 0o044)
    entry = pwd.getpwnam(user)
    os.chown(data_dir, entry.pw_uid, entry.pw_gid)


@contextmanager
def stoppable_postgres() -> Iterator[StoppablePostgres]:
    """A started throwaway cluster, stopped and deleted afterwards."""
    data_dir = Path(tempfile.mkdtemp(prefix="bounced-stoppable-pg-"))
    server = StoppablePostgres(data_dir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.is_running():
            server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
