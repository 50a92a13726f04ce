"""Running the CLI in tests, and reading what it printed."""

from __future__ import annotations

import json
from typing import Any

from click.testing import Result
from typer.testing import CliRunner

from interview_retention.cli.main import app


def run(runner: CliRunner, *args: str, code: int = 0) -> Result:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result


def run_json(runner: CliRunner, *args: str, code: int = 0) -> Any:
    """Run with `--json`; stdout must be one JSON document and nothing else."""
    return json.loads(run(runner, *args, "--json", code=code).stdout)
