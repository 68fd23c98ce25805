"""Load generators: wrk (the real one), a Python loop (smoke mode and fallback), and the
asyncpg baseline client. All report the same LoadResult."""

from __future__ import annotations

import asyncio
import os
import random
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec

LUA_SCRIPT = Path(__file__).with_name("workload.lua")


@dataclass(frozen=True, slots=True)
class LoadResult:
    generator: str
    requests: int
    seconds: float
    non2xx: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass(frozen=True, slots=True)
class HttpLoad:
    """What to send: GETs over ``paths`` in turn, or claim creations on ``paths`` (POST)."""

    mode: str  # "get" or "create"
    paths: list[str]
    tokens: list[str]
    document_length: int = 0


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def _result(
    generator: str, latencies: list[float], seconds: float, bad: int, errors: int
) -> LoadResult:
    latencies.sort()
    return LoadResult(
        generator=generator,
        requests=len(latencies),
        seconds=seconds,
        non2xx=bad,
        errors=errors,
        p50_ms=_percentile(latencies, 50) * 1000,
        p95_ms=_percentile(latencies, 95) * 1000,
        p99_ms=_percentile(latencies, 99) * 1000,
    )


# --- wrk ------------------------------------------------------------------------------------


def wrk_path(*, install: bool, log: Callable[[str], None]) -> str | None:
    """wrk from Debian's packages; installed here when missing and running as root."""
    found = shutil.which("wrk")
    if found or not install:
        return found
    if os.geteuid() != 0:
        log("wrk is not installed: run `sudo apt-get update && sudo apt-get install -y wrk`")
        return None
    log("installing wrk: apt-get update && apt-get install -y wrk")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log(f"`{' '.join(cmd)}` failed:\n{result.stderr[-2000:]}")
            return None
    return shutil.which("wrk")


def wrk_version(wrk: str) -> str:
    result = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    first = (result.stdout + result.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk"


def run_wrk(
    wrk: str,
    base_url: str,
    load: HttpLoad,
    *,
    concurrency: int,
    duration: float,
    threads: int,
    work_dir: Path,
) -> LoadResult:
    data = work_dir / f"wrk-{secrets.token_hex(4)}.txt"
    lines = [f"mode {load.mode}", f"nonce {secrets.token_hex(6)}", f"doclen {load.document_length}"]
    lines += [f"token {t}" for t in load.tokens]
    lines += [f"path {p}" for p in load.paths]
    data.write_text("\n".join(lines) + "\n")
    cmd = [
        wrk,
        f"-t{threads}",
        f"-c{concurrency}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "30s",
        "-s",
        str(LUA_SCRIPT),
        base_url,
        "--",
        str(data),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    match = re.search(r"^BENCH_JSON (\{.*\})$", result.stdout, re.MULTILINE)
    if result.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    raw: dict[str, Any] = msgspec.json.decode(match.group(1))
    return LoadResult(
        generator="wrk",
        requests=int(raw["requests"]),
        seconds=raw["duration_us"] / 1e6,
        non2xx=int(raw["non2xx"]),
        errors=int(raw["socket_errors"]),
        p50_ms=raw["p50"] / 1000,
        p95_ms=raw["p95"] / 1000,
        p99_ms=raw["p99"] / 1000,
    )


# --- the Python loop (smoke mode, or when wrk cannot be had) --------------------------------


async def run_python_loop(
    base_url: str, load: HttpLoad, *, concurrency: int, duration: float
) -> LoadResult:
    """A closed loop of ``concurrency`` httpx clients: what wrk does, far less efficiently.
    Used by the smoke mode (tests need no wrk) and, clearly labelled, as a fallback."""
    nonce = secrets.token_hex(6)
    latencies: list[float] = []
    bad = 0
    errors = 0
    rng = random.Random()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        started = time.perf_counter()
        deadline = started + duration

        async def worker(wid: int) -> None:
            nonlocal bad, errors
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                headers = {"Authorization": f"Bearer {load.tokens[(n + wid) % len(load.tokens)]}"}
                t0 = time.perf_counter()
                try:
                    if load.mode == "create":
                        start = rng.randint(0, load.document_length - 130)
                        body = {"spans": [{"start": start, "end": start + rng.randint(20, 120)}]}
                        headers["Idempotency-Key"] = f"{nonce}-{wid}-{n}"
                        response = await client.post(
                            rng.choice(load.paths), json=body, headers=headers
                        )
                    else:
                        path = load.paths[(n + wid) % len(load.paths)]
                        response = await client.get(path, headers=headers)
                except httpx.HTTPError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                if not 200 <= response.status_code < 300:
                    bad += 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        seconds = time.perf_counter() - started
    return _result("python-loop", latencies, seconds, bad, errors)


# --- the asyncpg baseline -------------------------------------------------------------------

Operation = Callable[[asyncpg.Connection, int, random.Random], Awaitable[None]]


async def run_asyncpg(
    dsn: str,
    operation: Operation,
    *,
    concurrency: int,
    duration: float,
    timed: Callable[[bool], None] | None = None,
) -> LoadResult:
    """``concurrency`` connections, each running ``operation`` in a closed loop. ``timed`` is
    called with True just before the timed loop and with False just after it: connecting,
    authenticating and warming up are outside, as the API's pool is connected and warm."""
    connections = [await asyncpg.connect(dsn) for _ in range(concurrency)]
    latencies: list[float] = []
    errors = 0
    try:
        for conn in connections:  # warm the statement caches as the API's pool is warm
            await operation(conn, 0, random.Random())
        if timed is not None:
            timed(True)
        started = time.perf_counter()
        deadline = started + duration

        async def worker(conn: asyncpg.Connection, wid: int) -> None:
            nonlocal errors
            rng = random.Random(wid)
            n = 0
            while time.perf_counter() < deadline:
                n += 1
                t0 = time.perf_counter()
                try:
                    await operation(conn, wid * 1_000_000 + n, rng)
                except asyncpg.PostgresError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker(c, i) for i, c in enumerate(connections)))
        seconds = time.perf_counter() - started
        if timed is not None:
            timed(False)
    finally:
        for conn in connections:
            await conn.close()
    return _result("asyncpg", latencies, seconds, errors, 0)
