"""One schemathesis run against a live server: the bounded one of the test suite and the long
one of bench/fuzz both come through here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.reliability.live import REPO_ROOT, LiveServer, SeededWorld

CONFIG = Path(__file__).with_name("schemathesis.toml")
DEFAULT_SEED = 20261125


@dataclass
class FuzzResult:
    command: list[str]
    exit_code: int
    report: dict[str, Any]
    output: str
    failures: list[dict[str, Any]] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return int(self.report.get("test_cases", {}).get("generated", 0))

    @property
    def operations(self) -> int:
        return int(self.report.get("operations", {}).get("tested", 0))

    def summary(self) -> str:
        """The failures and errors as schemathesis printed them (with curl reproductions)."""
        start = self.output.find("= FAILURES =")
        if start < 0:
            start = self.output.find("= ERRORS =")
        return self.output[start - 40 :] if start >= 0 else self.output[-6000:]


def run_schemathesis(
    server: LiveServer,
    world: SeededWorld,
    workdir: Path,
    *,
    seconds: int,
    seed: int = DEFAULT_SEED,
    extra_args: list[str] | None = None,
) -> FuzzResult:
    """Every operation, every phase (examples, coverage, fuzzing, stateful), every check of
    schemathesis.toml, for ``seconds`` at most, as the seeded demo admin."""
    report_path = workdir / "schemathesis-report.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{server.base_url}/schema/openapi.json",
        "--max-time",
        str(seconds),
        "--seed",
        str(seed),
        "--report",
        "json",
        "--report-json-path",
        str(report_path),
        "--request-timeout",
        "30",
        *(extra_args or []),
    ]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.reliability.fuzz_hooks",
        "FUZZ_BASE_URL": server.base_url,
        "FUZZ_EMAIL": "admin@example.com",
        "FUZZ_PASSWORD": world.passwords["admin@example.com"],
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "NO_COLOR": "1",
        "COLUMNS": "120",
    }
    completed = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 300,
        check=False,
    )
    report: dict[str, Any] = {}
    if report_path.exists():
        report = json.loads(report_path.read_text())
    return FuzzResult(
        command=command,
        exit_code=completed.returncode,
        report=report,
        output=completed.stdout + completed.stderr,
        failures=list(report.get("failures", [])),
        errors=list(report.get("errors", [])),
    )
