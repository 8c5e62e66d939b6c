"""The demo's own infrastructure: an SQS/SNS emulator in-process and a fresh PostgreSQL database.

The emulator is moto's threaded server on 127.0.0.1 (a free port). The database is a new one made
for this run and dropped at its end, on the server `BOUNCED_DATABASE_URL` names (nothing else on it
is touched) or, when that is unset, on a PostgreSQL from the `pgserver` wheel whose data folder is
`.demo/pg` under the current directory. As root, pgserver creates a system user `pgserver` and opens
read permission on the data folder's parents.
"""

from __future__ import annotations

import logging
import secrets
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

DATA_FOLDER = Path(".demo") / "pg"
DATABASE_PREFIX = "bounced_demo_"


@contextmanager
def emulator() -> Iterator[str]:
    """moto's server on 127.0.0.1 (never its default 0.0.0.0) on a free port; yields its endpoint."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 (an optional extra: imported on use)

    # moto's werkzeug logs every request at INFO; the demo's output is its summary.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextmanager
def embedded_server(folder: Path) -> Iterator[str]:
    """A pgserver PostgreSQL with its data in `folder` (made when missing); yields an admin DSN.
    A folder left by an earlier run is reused: the demo's state lives in its own database."""
    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (as under CI); pgserver copes.
        warnings.simplefilter("ignore")
        import pgserver  # noqa: PLC0415 (an optional extra: imported only when no server is given)

        server = pgserver.get_server(str(folder.resolve()), cleanup_mode="stop")  # type: ignore[attr-defined]
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


def with_database(dsn: str, database: str) -> str:
    """The same DSN pointing at another database."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


@asynccontextmanager
async def fresh_database(admin_dsn: str) -> AsyncIterator[str]:
    """A new empty database with a unique name on the server of `admin_dsn`; dropped on exit."""
    name = DATABASE_PREFIX + secrets.token_hex(4)
    await _admin(admin_dsn, f"CREATE DATABASE {name}")
    try:
        yield with_database(admin_dsn, name)
    finally:
        await _admin(admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def _admin(dsn: str, statement: str) -> None:
    # CREATE/DROP DATABASE take no parameters; the name is ours (a fixed prefix and hex digits).
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
