"""The results table: printed, and written into bench/README.md between markers per scale."""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.dataset import Dataset
from bench.postgres import BenchDatabase
from bench.scales import Scale
from bench.workloads import Report, part_seconds


@dataclass(frozen=True, slots=True)
class Machine:
    cpus: int
    memory_gib: float
    cpu_model: str
    python: str
    postgres: str
    loader: str

    @classmethod
    def describe(cls, postgres: str, loader: str) -> Machine:
        model = "unknown"
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        memory = 0.0
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemTotal:"):
                    memory = int(line.split()[1]) / 2**20
        except OSError:
            pass
        return cls(
            cpus=os.cpu_count() or 0,
            memory_gib=memory,
            cpu_model=model,
            python=platform.python_version(),
            postgres=postgres,
            loader=loader,
        )


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def _cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render(
    *,
    scale: Scale,
    dataset: Dataset,
    database: BenchDatabase,
    report: Report,
    machine: Machine,
    command: str,
    started: datetime,
    seconds: float,
) -> str:
    out: list[str] = []
    add = out.append
    add(f"### Scale `{scale.name}`: {dataset.documents:,} documents, {dataset.claims:,} claims")
    add("")
    add(
        f"- Date: {started.astimezone(UTC):%Y-%m-%d %H:%M} UTC; the run took {seconds / 60:.1f} min"
    )
    add(f"- Command: `{command}`")
    add(
        f"- Machine: {machine.cpus} CPUs ({machine.cpu_model}), {machine.memory_gib:.1f} GiB "
        f"memory; Python {machine.python}; PostgreSQL {machine.postgres} "
        f"({'embedded' if database.embedded else 'given server'}: "
        + ", ".join(f"{k}={v}" for k, v in database.settings.items())
        + ")"
    )
    add(
        f"- Load: {machine.loader}, {scale.concurrency} connections, "
        f"{scale.duration:g} s per measurement (interleaved comparisons: {scale.rounds} parts "
        f"of {part_seconds(scale.duration):g} s per side); API: `factmark serve` (uvicorn) with "
        f"{report.workers} worker{'s' if report.workers != 1 else ''}"
        + (
            " (chosen by measurement, req/s on the review read and on claim creation: "
            + ", ".join(
                f"{c.workers} -> {c.review.rate:,.0f} and {c.create.rate:,.0f}"
                for c in report.calibration
            )
            + ")"
            if len(report.calibration) > 1
            else ""
        )
    )
    if database.app_role_note:
        add(f"- Note: {database.app_role_note}")
    load = ", ".join(f"{k} {v:.1f} s" for k, v in dataset.load_seconds.items())
    add(f"- Data load ({'with' if dataset.audit_load else 'without'} audit triggers): {load}")
    add("")
    add("| workload | result | target | met |")
    add("|---|---|---|---|")
    for o in report.outcomes:
        met = "n/a" if o.met is None else ("yes" if o.met else "**no**")
        add(f"| {o.workload} | {o.figure} | {o.target} | {met} |")
    add("")
    add(
        "| workload | side | generator | req/s | p50 ms | p95 ms | p99 ms | non-2xx / errors "
        "| requests | CPU ms/req: API | load generator | PostgreSQL |"
    )
    add("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in report.measurements:
        r = m.result
        add(
            f"| {m.workload} | {m.side} | {r.generator} | {r.rate:,.0f} | {_ms(r.p50_ms)} | "
            f"{_ms(r.p95_ms)} | {_ms(r.p99_ms)} | {r.non2xx + r.errors} | {r.requests:,} | "
            f"{_cpu(m.server_cpu_ms)} | {_cpu(m.client_cpu_ms)} | {_cpu(m.postgres_cpu_ms)} |"
        )
    if report.export_rows:
        add("")
        add(
            "| export rows | API rows/s | COPY rows/s | ratio | server RSS before → peak (MB) "
            "| CPU µs/row: API | PostgreSQL for the API | PostgreSQL for COPY |"
        )
        add("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for e in report.export_rows:
            add(
                f"| {e['rows']:,} | {e['api_rows_per_s']:,.0f} | {e['copy_rows_per_s']:,.0f} | "
                f"{e['ratio']:.0%} | {e['rss_before_mb']:.0f} → {e['rss_peak_mb']:.0f} | "
                f"{_cpu(e['api_cpu_us_per_row'])} | {_cpu(e['api_pg_cpu_us_per_row'])} | "
                f"{_cpu(e['copy_pg_cpu_us_per_row'])} |"
            )
    if report.notes:
        add("")
        for note in report.notes:
            add(f"- {note}")
    return "\n".join(out) + "\n"


def write_readme(path: Path, scale: str, section: str) -> None:
    """Replace this scale's section between its markers, keeping the rest of the file."""
    begin, end = f"<!-- bench:{scale}:begin -->", f"<!-- bench:{scale}:end -->"
    block = f"{begin}\n{section}{end}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
