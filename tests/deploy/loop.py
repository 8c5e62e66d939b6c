"""The host side of `make test-deploy` (deploy/test/run.sh): what the shell script asks in Python.

    python -m tests.deploy.loop free-port
    python -m tests.deploy.loop create-db ADMIN_DSN          # prints the new database's DSN
    python -m tests.deploy.loop drop-db ADMIN_DSN DSN
    python -m tests.deploy.loop bounce ENDPOINT TOPIC_ARN DSN  # a hard bounce ends suppressed, or exit 1
    python -m tests.deploy.loop pip-config SERVE_ROOT URL ROOTFS  # the host's pip setup, for the image

Everything it talks to is on 127.0.0.1: moto, PostgreSQL, the file server of the host's pip folders.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
from aiobotocore.session import get_session

from bounced.core import samples
from tests.support.aws import REGION
from tests.support.postgres import with_database

DATABASE_PREFIX = "bounced_deploy_"

# pip settings naming folders or index pages: served over loopback, since a build cannot mount them.
LOCATION_KEYS = frozenset({"find-links", "index-url", "extra-index-url"})
# pip settings naming one file: copied into the root filesystem at the same path.
FILE_KEYS = frozenset({"constraint", "requirement"})
# The image's own bundle (the host's extra CA certificates are added to it), not the host's path.
CERT_KEYS = frozenset({"cert", "client-cert"})


async def admin(admin_dsn: str, statement: str) -> None:
    """Run one statement that takes no parameters (CREATE/DROP DATABASE) on the admin database."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def create_database(admin_dsn: str) -> str:
    """A new empty database with a unique name (a fixed prefix and hex digits); its DSN."""
    name = DATABASE_PREFIX + secrets.token_hex(6)
    await admin(admin_dsn, f"CREATE DATABASE {name}")
    return with_database(admin_dsn, name)


async def drop_database(admin_dsn: str, dsn: str) -> None:
    """Drop a database `create_database` made (and nothing else), ending its sessions."""
    name = urlsplit(dsn).path.lstrip("/")
    if not name.startswith(DATABASE_PREFIX) or not name.replace("_", "").isalnum():
        raise SystemExit(f"not a database of this script: {name!r}")
    await admin(admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_suppressed(dsn: str, address: str) -> None:
    """Return once the recipient's status is `suppressed` (polled: another process writes it)."""
    conn = await asyncpg.connect(dsn)
    try:
        while True:
            status = await conn.fetchval("SELECT status FROM recipients WHERE address = $1", address)
            if status == "suppressed":
                return
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def publish_bounce(endpoint: str, topic_arn: str) -> str:
    """Publish a hard bounce for a fresh address to the SNS topic, as SES does; the address."""
    token = secrets.token_hex(6)
    address = f"deploy-{token}@example.org"
    document = samples.bounce(
        [address],
        message_id=f"deploy-ses-{token}",
        feedback_id=f"deploy-fb-{token}",
        timestamp=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    )
    session = get_session()
    # moto takes any credentials; these keep botocore from looking for real ones.
    async with session.create_client(
        "sns",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ) as sns:
        await sns.publish(TopicArn=topic_arn, Message=samples.dumps(document))
    return address


async def bounce_applied(endpoint: str, topic_arn: str, dsn: str, seconds: float) -> bool:
    """Whether a hard bounce published now is suppressed by the daemon under test within `seconds`."""
    address = await publish_bounce(endpoint, topic_arn)
    try:
        async with asyncio.timeout(seconds):
            await wait_suppressed(dsn, address)
    except TimeoutError:
        return False
    return True


def host_pip_settings() -> dict[str, str]:
    """The host pip's effective settings (`pip config list`; the environment's override files)."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    files: dict[str, str] = {}
    environment: dict[str, str] = {}
    for line in listed.splitlines():
        name, _, quoted = line.partition("=")
        scope, _, key = name.rpartition(".")
        if key:
            (environment if scope == ":env:" else files)[key] = quoted.strip("'\"")
    return files | environment  # pip lets its environment variables win over its files


def served(location: str, key: str, serve_root: Path, url: str) -> str:
    """`location` as pip in the image reaches it: a local folder or file:// URL becomes an http URL
    on loopback (its folder linked under `serve_root`); anything else stays as it is."""
    path = urlsplit(location).path if location.startswith("file://") else location
    if not path.startswith("/"):
        return location
    local = Path(path)
    # An index's pages link to files beside it (../../files/...): expose the index's parent.
    exposed = local.parent if key != "find-links" or local.is_file() else local
    link = serve_root / exposed.relative_to("/")
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.exists():
        link.symlink_to(exposed)
    suffix = "/" if local.is_dir() else ""
    return f"{url}{local}{suffix}"


def pip_config(serve_root: Path, url: str, rootfs: Path) -> str:
    """The pip.conf for the image: the host's settings, its local folders served on loopback."""
    lines = ["[global]", "cert = /etc/ssl/certs/ca-certificates.crt"]
    for key, value in sorted(host_pip_settings().items()):
        if key in CERT_KEYS:
            continue
        if key in LOCATION_KEYS:
            lines.append(f"{key} = " + " ".join(served(item, key, serve_root, url) for item in value.split()))
            continue
        if key in FILE_KEYS:
            target = rootfs / value.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(value, target)
        lines.append(f"{key} = {value}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.deploy.loop")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("free-port")
    create = sub.add_parser("create-db")
    create.add_argument("admin_dsn")
    drop = sub.add_parser("drop-db")
    drop.add_argument("admin_dsn")
    drop.add_argument("dsn")
    feedback = sub.add_parser("bounce")
    feedback.add_argument("endpoint")
    feedback.add_argument("topic_arn")
    feedback.add_argument("dsn")
    feedback.add_argument("--timeout", type=float, default=60.0)
    pip = sub.add_parser("pip-config")
    pip.add_argument("serve_root", type=Path)
    pip.add_argument("url")
    pip.add_argument("rootfs", type=Path)
    args = parser.parse_args(argv)
    if args.command == "free-port":
        print(free_port())
    elif args.command == "create-db":
        print(asyncio.run(create_database(args.admin_dsn)))
    elif args.command == "drop-db":
        asyncio.run(drop_database(args.admin_dsn, args.dsn))
    elif args.command == "bounce":
        if not asyncio.run(bounce_applied(args.endpoint, args.topic_arn, args.dsn, args.timeout)):
            print(f"a hard bounce was not suppressed within {args.timeout:.0f} s", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(pip_config(args.serve_root, args.url.rstrip("/"), args.rootfs))
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main(sys.argv[1:]))
