"""The built package is what gets tested: the sdist and the wheel built as `make dist` builds them,
the wheel installed (not editable) into a fresh virtualenv outside the checkout, and that venv's
`bounced` run against a real PostgreSQL and moto. Whatever only the checkout has (SQL files,
migrations, samples) and the wheel lacks fails here.

Dependencies come from the package index (or pip's cache) like any install: the first run takes
about a minute."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

import bounced
from bounced.core import samples
from bounced.ingest.provision import FeedbackWiring
from tests.support.aws import FAKE_CREDENTIALS
from tests.support.feedback import Aws, unique_id

pytestmark = pytest.mark.acceptance

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTION = "bounced_ses"  # the wheel's file-name form of bounced-ses
# Variables that would let the installed command see the checkout or another environment.
_LEAKS = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")


def _run(argv: list[str], *, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 600) -> str:
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{argv} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel built from it, as `make dist` builds them (into a temporary folder)."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], cwd=out)
    return out


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv, outside the checkout, with the wheel installed (not editable); its bin/."""
    venv = tmp_path_factory.mktemp("venv")
    # Without a pip of its own (seeding one costs seconds): the test's pip installs into it.
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=venv)
    (wheel,) = dist.glob(f"{DISTRIBUTION}-*.whl")
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet"]
    _run([*pip, str(wheel)], cwd=venv, env=_clean_env())
    return venv / "bin"


def _clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOUNCED_", "AWS_")) and k not in _LEAKS}
    env.update(extra or {})
    return env


def test_the_wheel_holds_the_package_only(dist: Path) -> None:
    (wheel,) = dist.glob(f"{DISTRIBUTION}-{bounced.__version__}-py3-none-any.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert all(n.startswith(("bounced/", f"{DISTRIBUTION}-{bounced.__version__}.dist-info/")) for n in names)
    packaged = {n for n in names if n.endswith(".sql")}
    in_checkout = {str(p.relative_to(ROOT)) for p in (ROOT / "bounced").rglob("*.sql")}
    assert packaged == in_checkout
    assert any(n.startswith("bounced/db/sql/migrations/") for n in packaged)
    (sdist,) = dist.glob(f"{DISTRIBUTION}-{bounced.__version__}.tar.gz")
    assert sdist.stat().st_size > 0


async def test_the_installed_command_migrates_and_suppresses_a_hard_bounce(
    installed: Path, aws: Aws, wiring: FeedbackWiring, empty_database: str, aws_env: str
) -> None:
    command = str(installed / "bounced")
    outside = installed.parent  # the venv's folder: nowhere near the checkout
    where = _run([str(installed / "python"), "-c", "import bounced; print(bounced.__file__)"], cwd=outside)
    assert Path(where.strip()).is_relative_to(installed.parent), where  # not the checkout
    assert _run([command, "--version"], cwd=outside).strip() == f"bounced {bounced.__version__}"

    env = _clean_env(
        {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": aws_env,
            "BOUNCED_DATABASE_URL": empty_database,  # the installed command creates the schema
            "BOUNCED_VERIFY_SIGNATURES": "false",
            "BOUNCED_WAIT_TIME_SECONDS": "1",
            "BOUNCED_LOG_FORMAT": "json",
            **wiring.environment(),
        }
    )
    _run([command, "migrate"], cwd=outside, env=env, timeout=120)
    bounce = samples.bounce(["hard@example.org"], feedback_id=unique_id("fb"), message_id=unique_id("m"))
    await aws.publish(wiring.topics["bounce"], bounce)
    _run([command, "run", "--once"], cwd=outside, env=env, timeout=120)

    status = json.loads(_run([command, "status", "hard@example.org", "--json"], cwd=outside, env=env))
    assert status["status"] == "suppressed"
    assert await aws.depth(wiring.queues["bounce"]) == (0, 0)
