"""The Dockerfile and docker-compose.yml, checked statically (no Docker engine runs here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (via cfn-lint) ships no stubs

from tests.unit.deploy_support import ACCEPTED_SETTINGS, BOUNCED_SETTINGS, assert_commands_exist

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "bounced:local"
SHUTDOWN_GRACE = 25
LONG_POLL_WAIT = 20


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    lines = [
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            result.append((keyword.upper(), args.strip()))
    return result


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def one(keyword: str) -> str:
    found = [args for k, args in final_stage() if k == keyword]
    assert len(found) == 1, f"expected one {keyword} in the final stage, found {found}"
    return found[0]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def seconds(duration: str) -> int:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert match, duration
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


def test_dockerfile_is_multi_stage_on_slim_python() -> None:
    steps = instructions()
    froms = [args for keyword, args in steps if keyword == "FROM"]
    assert len(froms) >= 2
    # Every stage starts FROM the one BASE argument, declared before the first FROM (the legacy
    # builder's rule), whose default is the official slim image; `make test-deploy` passes its own.
    assert all(args.startswith("${BASE}") for args in froms)
    assert steps[0] == ("ARG", "BASE=python:3.11-slim")
    assert any(k == "COPY" and args.startswith("--from=build") for k, args in final_stage())


def test_dockerfile_runs_as_non_root() -> None:
    user = one("USER").split(":")[0]
    assert user not in ("root", "0")


def test_dockerfile_entrypoint_and_cmd_are_exec_form() -> None:
    assert json.loads(one("ENTRYPOINT")) == ["bounced"]
    assert json.loads(one("CMD")) == ["run"]


def test_dockerfile_healthcheck_uses_bounced_check() -> None:
    healthcheck = one("HEALTHCHECK")
    options, _, command = healthcheck.partition("CMD ")
    assert json.loads(command) == ["bounced", "check"]
    timeout = re.search(r"--timeout=(\d+)s", options)
    assert timeout
    assert int(timeout.group(1)) > 5  # the check's own timeout, so it reports rather than being killed


def test_dockerfile_stops_with_sigterm_and_exposes_the_http_port() -> None:
    assert one("STOPSIGNAL") == "SIGTERM"
    assert one("EXPOSE") == "8080"


def test_dockerfile_environment_is_accepted() -> None:
    env = one("ENV")
    names = set(re.findall(r"(\w+)=", env))
    assert {n for n in names if n.startswith("BOUNCED_")} <= BOUNCED_SETTINGS
    assert "BOUNCED_HTTP_ADDR=0.0.0.0:8080" in env


def test_dockerfile_commands_exist() -> None:
    argvs = [json.loads(one("CMD")), json.loads(one("HEALTHCHECK").partition("CMD ")[2])[1:]]
    assert_commands_exist(argvs)


def test_dockerignore_lets_every_copied_file_in() -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for keyword, args in instructions():
        if keyword == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                path = source.rstrip("/")
                assert (ROOT / path).exists(), f"COPY {source}: no such file"
                assert path in allowed, f"COPY {source}: excluded by .dockerignore"


def test_compose_has_the_whole_stack() -> None:
    s = services()
    assert {"postgres", "moto", "setup", "bounced-migrate", "bounced"} <= set(s)
    assert s["postgres"]["image"].startswith("postgres:16")
    assert s["moto"]["image"].startswith("motoserver/moto")
    assert "healthcheck" in s["postgres"]
    assert "healthcheck" in s["moto"]


def test_compose_bounced_waits_for_its_dependencies() -> None:
    depends = services()["bounced"]["depends_on"]
    assert depends == {
        "postgres": {"condition": "service_healthy"},
        "moto": {"condition": "service_healthy"},
        "setup": {"condition": "service_completed_successfully"},
        "bounced-migrate": {"condition": "service_completed_successfully"},
    }


def test_compose_stop_grace_covers_the_drain() -> None:
    bounced = services()["bounced"]
    grace = int(bounced["environment"].get("BOUNCED_SHUTDOWN_GRACE", SHUTDOWN_GRACE))
    assert seconds(bounced["stop_grace_period"]) > grace + LONG_POLL_WAIT


def test_compose_publishes_only_on_host_loopback() -> None:
    assert services()["bounced"]["ports"] == ["127.0.0.1:8080:8080"]


@pytest.mark.parametrize("name", ["postgres", "moto", "setup", "bounced-migrate", "bounced"])
def test_compose_bounced_settings_are_accepted(name: str) -> None:
    service = services()[name]
    env = dict(service.get("environment") or {})
    assert {n for n in env if n.startswith("BOUNCED_")} <= BOUNCED_SETTINGS
    if service.get("image") == IMAGE and "entrypoint" not in service:
        assert set(env) <= ACCEPTED_SETTINGS


def test_compose_bounced_commands_exist() -> None:
    argvs = [
        service["command"]
        for service in services().values()
        if service.get("image") == IMAGE and "entrypoint" not in service
    ]
    assert len(argvs) == 3  # setup (provision), bounced-migrate, bounced
    assert_commands_exist(argvs)


def test_compose_setup_job_provisions_with_the_image_itself() -> None:
    setup = services()["setup"]
    assert "entrypoint" not in setup
    assert setup["command"][0] == "provision"


def test_compose_queue_urls_match_the_setup_prefix() -> None:
    env = services()["bounced"]["environment"]
    prefix = services()["setup"]["command"][-1]
    for setting, kind in [
        ("BOUNCED_BOUNCE_QUEUE_URL", "bounces"),
        ("BOUNCED_COMPLAINT_QUEUE_URL", "complaints"),
        ("BOUNCED_DELIVERY_QUEUE_URL", "deliveries"),
        ("BOUNCED_RETRY_QUEUE_URL", "retries"),
    ]:
        assert env[setting].endswith(f"/{prefix}-{kind}")


def test_compose_declares_unsigned_exactly_the_queues_setup_subscribes_raw() -> None:
    command = services()["setup"]["command"]
    raw = {command[i + 1] for i, arg in enumerate(command) if arg == "--raw"}
    declared = services()["bounced"]["environment"]["BOUNCED_UNSIGNED_QUEUES"]
    assert {name.strip() for name in declared.split(",") if name.strip()} == raw
