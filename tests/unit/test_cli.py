"""The command line as a whole: help, version, and that one command imports only its own module."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bounced import __version__
from bounced.cli import COMMANDS, build_parser, main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"bounced {__version__}"


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "commands:" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_documents_itself(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert f"usage: bounced {command}" in capsys.readouterr().out


def test_the_full_parser_has_every_command() -> None:
    parser = build_parser()
    assert parser._subparsers is not None
    (action,) = parser._subparsers._group_actions
    assert set(getattr(action, "choices", {})) == set(COMMANDS)


def test_check_does_not_import_the_aws_and_database_stacks() -> None:
    """`bounced check` runs as Docker's HEALTHCHECK every few seconds: it must start fast."""
    probe = (
        "import sys\n"
        "from bounced.cli import main\n"
        "main(['check', '--url', 'http://127.0.0.1:9/healthz', '--timeout', '0.1'])\n"
        "print(sorted(m for m in ('aiobotocore', 'asyncpg', 'botocore') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
