"""The benchmark's smoke mode runs end to end on tiny data, so that the harness cannot rot.

It runs `python -m bench --scale smoke` on the test suite's PostgreSQL server (in a database of
its own, dropped afterwards), with the built-in Python load loop instead of wrk, so that it
needs nothing beyond the project's dependencies.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from factmark.db import DatabaseUrls

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def smoke_run(database_urls: DatabaseUrls, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("bench")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--scale",
            "smoke",
            "--database-url",
            database_urls.owner,
            "--json",
            str(out / "results.json"),
            "--readme",
            str(out / "README.md"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-6000:]
    data: dict = json.loads((out / "results.json").read_text())
    data["readme"] = (out / "README.md").read_text()
    data["stdout"] = result.stdout
    return data


@pytest.mark.slow
def test_smoke_run_measures_all_seven_workloads_without_failures(smoke_run: dict) -> None:
    assert smoke_run["failures"] == 0
    numbers = sorted({o["workload"].split(".")[0] for o in smoke_run["outcomes"]})
    assert numbers == ["1", "2", "3", "4", "5", "6", "7"]
    audit = {o["workload"] for o in smoke_run["outcomes"] if o["workload"].startswith("6.")}
    assert audit == {
        "6. audit trigger overhead: claim creation",
        "6. audit trigger overhead: one-row writes (worst case)",
    }
    chain = {o["workload"]: o for o in smoke_run["outcomes"] if o["workload"].startswith("7.")}
    sealing = chain["7. audit sealing and verification: sealing"]
    assert sealing["figure"].startswith("sealed 303 of 303 events")  # 300 comments + 3 rows
    assert sealing["met"] is True
    assert "ok=True" in chain["7. audit sealing and verification: verification"]["figure"]
    assert all(not o["figure"].startswith("failed") for o in smoke_run["outcomes"])


@pytest.mark.slow
def test_smoke_run_uses_the_labelled_python_loop_and_every_request_succeeds(
    smoke_run: dict,
) -> None:
    assert smoke_run["loader"] == "Python httpx loop (smoke mode)"
    sides = {(m["workload"], m["side"]) for m in smoke_run["measurements"]}
    assert len(sides) >= 9  # API and baseline sides of every workload
    for m in smoke_run["measurements"]:
        assert m["result"]["requests"] > 0, m
        assert m["result"]["non2xx"] == 0, m
        assert m["result"]["errors"] == 0, m
        assert m["rate"] > 0


@pytest.mark.slow
def test_smoke_run_compares_the_api_with_its_asyncpg_baseline(smoke_run: dict) -> None:
    by_side = {(m["workload"], m["result"]["generator"]) for m in smoke_run["measurements"]}
    for workload in ("1. create a claim", "2. review screen", "4. full-text search"):
        assert (workload, "python-loop") in by_side
        assert (workload, "asyncpg") in by_side
    review = next(o for o in smoke_run["outcomes"] if o["workload"] == "2. review screen")
    assert "% of baseline" in review["figure"]


@pytest.mark.slow
def test_smoke_run_reports_each_round_of_its_interleaved_comparisons(smoke_run: dict) -> None:
    """The ratios with a target are also given per round, so that a reader sees how far the
    host's noise moves them within one run."""
    rounds = {
        n.split(":")[0]: n
        for n in smoke_run["notes"]
        if "in each round" in n and "back to back" in n
    }
    assert set(rounds) == {
        "1. create a claim",
        "2. review screen",
        "6. audit trigger overhead",
    }
    per_round = re.findall(r"(-?\d+)%", rounds["1. create a claim"])
    assert len(per_round) == 2  # the smoke scale's rounds
    assert all(int(r) > 0 for r in per_round)
    overhead = [n for n in smoke_run["notes"] if n.startswith("6. audit trigger overhead:")]
    assert any(
        n.startswith("6. audit trigger overhead: claim creation: each write") for n in overhead
    )
    assert any(
        n.startswith("6. audit trigger overhead: one-row writes: each write") for n in overhead
    )


@pytest.mark.slow
def test_smoke_run_writes_its_table_between_the_scale_markers(smoke_run: dict) -> None:
    readme = smoke_run["readme"]
    assert "<!-- bench:smoke:begin -->" in readme
    assert "<!-- bench:smoke:end -->" in readme
    assert "| workload | result | target | met |" in readme
    assert "Command: `uv run python -m bench --scale smoke" in readme
    assert "| workload | result | target | met |" in smoke_run["stdout"]


@pytest.mark.slow
async def test_smoke_run_drops_its_database(smoke_run: dict, owner_engine: AsyncEngine) -> None:
    async with owner_engine.connect() as conn:
        left = await conn.scalar(
            text("SELECT count(*) FROM pg_database WHERE datname LIKE 'factmark_bench_smoke%'")
        )
    assert left == 0
