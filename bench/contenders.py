"""The consumers the benchmark compares, each a command run as a subprocess against the load source."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Protocol

from bench.source import LoadSource

WAIT_SECONDS = 1  # long-poll wait: an empty poll of this length ends a baseline


class Contender(Protocol):
    """How to run one consumer."""

    name: str
    needs_database: bool
    sweeps_pollers: bool  # False: always one loop (the AWS sample is a single loop)

    def unavailable(self) -> str | None:
        """Why this contender cannot run here, or None."""

    def prepare(self, dsn: str | None, env: dict[str, str]) -> None:
        """Work before the measured run (migrations)."""

    def command(self, source: LoadSource, dsn: str | None, pollers: int) -> list[str]:
        """The command line of the measured run."""

    def env(self, source: LoadSource, dsn: str | None, pollers: int) -> dict[str, str]:
        """The environment of the measured run."""


def aws_env(source: LoadSource) -> dict[str, str]:
    """The environment that points botocore at the load source (and nowhere else)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BOUNCED_"))}
    env.update(
        {
            "AWS_ENDPOINT_URL": source.endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",  # this botocore reads the region from here, not AWS_REGION
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    return env


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Drain:
    """The bare aiobotocore drain (bench/drain.py)."""

    name: str = "drain"
    needs_database: bool = False
    sweeps_pollers: bool = True

    def unavailable(self) -> str | None:
        return None

    def prepare(self, dsn: str | None, env: dict[str, str]) -> None:
        return None

    def command(self, source: LoadSource, dsn: str | None, pollers: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "bench.drain",
            "--queue-url",
            source.queue_url,
            "--endpoint",
            source.endpoint,
            "--pollers",
            str(pollers),
            "--wait",
            str(WAIT_SECONDS),
        ]

    def env(self, source: LoadSource, dsn: str | None, pollers: int) -> dict[str, str]:
        return aws_env(source)


@dataclass
class Classic:
    """The AWS sample's classic loop (bench/classic.py), one loop."""

    name: str = "classic"
    needs_database: bool = True
    sweeps_pollers: bool = False

    def unavailable(self) -> str | None:
        return None

    def prepare(self, dsn: str | None, env: dict[str, str]) -> None:
        return None

    def command(self, source: LoadSource, dsn: str | None, pollers: int) -> list[str]:
        assert dsn is not None
        return [
            sys.executable,
            "-m",
            "bench.classic",
            "--queue-url",
            source.queue_url,
            "--endpoint",
            source.endpoint,
            "--dsn",
            dsn,
            "--loops",
            str(pollers),
            "--wait",
            str(WAIT_SECONDS),
        ]

    def env(self, source: LoadSource, dsn: str | None, pollers: int) -> dict[str, str]:
        return aws_env(source)


@dataclass
class Bounced:
    """bounced itself: `bounced migrate`, then `bounced run --once` configured by environment."""

    name: str = "bounced"
    needs_database: bool = True
    sweeps_pollers: bool = True

    def unavailable(self) -> str | None:
        for sub in ("run", "migrate"):
            probe = subprocess.run(
                [sys.executable, "-m", "bounced", sub, "--help"], capture_output=True, check=False, timeout=60
            )
            if probe.returncode != 0:
                return f"`bounced {sub} --help` exits {probe.returncode}: the command does not exist yet"
        return None

    def prepare(self, dsn: str | None, env: dict[str, str]) -> None:
        subprocess.run(
            [sys.executable, "-m", "bounced", "migrate"],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def command(self, source: LoadSource, dsn: str | None, pollers: int) -> list[str]:
        return [sys.executable, "-m", "bounced", "run", "--once"]

    def env(self, source: LoadSource, dsn: str | None, pollers: int) -> dict[str, str]:
        assert dsn is not None
        env = aws_env(source)
        env.update(
            {
                "BOUNCED_DATABASE_URL": dsn,
                "BOUNCED_BOUNCE_QUEUE_URL": source.queue_url,
                "BOUNCED_POLLERS_PER_QUEUE": str(pollers),
                # `run --once` stops at the first empty long poll: keep that poll as short as the baselines'.
                "BOUNCED_WAIT_TIME_SECONDS": str(WAIT_SECONDS),
                "BOUNCED_VERIFY_SIGNATURES": "false",  # the generated envelopes carry unverifiable signatures
                "BOUNCED_HTTP_ADDR": f"127.0.0.1:{free_port()}",
                "BOUNCED_LOG_LEVEL": "info",
            }
        )
        return env


ALL: tuple[Contender, ...] = (Bounced(), Drain(), Classic())
