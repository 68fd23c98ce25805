"""One benchmark run: PostgreSQL, data, the API, the workloads, the report."""

from __future__ import annotations

import argparse
import asyncio
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import msgspec

from bench import audit_chain, workloads
from bench.dataset import Dataset, load, schema_fingerprint, stored_dataset
from bench.load import HttpLoad, LoadResult, run_python_loop, run_wrk, wrk_path, wrk_version
from bench.postgres import BenchDatabase, create_bench_database, drop_database, postgres_server
from bench.report import Machine, render, write_readme
from bench.scales import SCALES, Scale
from bench.server import ApiServer, postmaster_of

README = Path(__file__).with_name("README.md")
Loader = Callable[[HttpLoad], Awaitable[LoadResult]]
MakeLoader = Callable[[ApiServer, float], Loader]
WORKLOADS: dict[str, Callable[[workloads.Context], Awaitable[None]]] = {
    "2": workloads.review_read,
    "3": workloads.claims_list,
    "4": workloads.search,
    "1": workloads.create_claim,
    "5": workloads.export,
    "6": workloads.audit_overhead,
    "7": audit_chain.audit_chain,
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _at_least_one(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="factmark's benchmark: the API against plain asyncpg, on data at scale.",
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument(
        "--database-url",
        help="a superuser URL of a PostgreSQL server to create the bench database on "
        "(default: an embedded server in a temporary directory)",
    )
    parser.add_argument(
        "--pgdata",
        type=Path,
        help="keep the embedded server's data here (with --reuse, loads once for many runs)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse the database factmark_bench_<scale> when already loaded; keep it after",
    )
    parser.add_argument("--workers", type=int, help="API workers (default: chosen by measurement)")
    parser.add_argument("--duration", type=float, help="seconds per measurement")
    parser.add_argument(
        "--rounds",
        type=_at_least_one,
        help="parts per side of the interleaved comparisons (of half the duration each)",
    )
    parser.add_argument("--concurrency", type=int, help="connections, for the API and asyncpg")
    parser.add_argument(
        "--loader",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="auto: wrk (installed with apt-get when missing and root), the Python loop for "
        "--scale smoke",
    )
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument(
        "--only", help="comma-separated workload numbers to run (default: all: 1,2,3,4,5,6,7)"
    )
    parser.add_argument(
        "--audit-load", action="store_true", help="load the data with the audit triggers on"
    )
    parser.add_argument(
        "--readme",
        type=Path,
        help="write the results here (default: bench/README.md, except for --scale smoke)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON here")
    return parser


async def _http_loader(
    args: argparse.Namespace, scale: Scale, work_dir: Path
) -> tuple[str, MakeLoader]:
    choice = args.loader
    if choice == "auto":
        choice = "python" if scale.name == "smoke" else "wrk"
    wrk = wrk_path(install=True, log=log) if choice == "wrk" else None
    if choice == "wrk" and wrk is None:
        if args.loader == "wrk":
            raise SystemExit("wrk is not available")
        log("FALLBACK: wrk is not available; using the Python load loop (less efficient)")
    if wrk is not None:
        label = f"{wrk_version(wrk)}, {args.wrk_threads} thread(s)"

        def make_wrk(server: ApiServer, duration: float) -> Loader:
            async def run(load: HttpLoad) -> LoadResult:
                return await asyncio.to_thread(
                    run_wrk,
                    wrk,
                    server.base_url,
                    load,
                    concurrency=scale.concurrency,
                    duration=duration,
                    threads=args.wrk_threads,
                    work_dir=work_dir,
                )

            return run

        return label, make_wrk
    if scale.name == "smoke" and args.loader == "auto":
        label = "Python httpx loop (smoke mode)"
    elif args.loader == "python":
        label = "Python httpx loop (chosen with --loader python)"
    else:
        label = "FALLBACK Python httpx loop (wrk unavailable)"

    def make_python(server: ApiServer, duration: float) -> Loader:
        async def run(load: HttpLoad) -> LoadResult:
            return await run_python_loop(
                server.base_url, load, concurrency=scale.concurrency, duration=duration
            )

        return run

    return label, make_python


async def _stored(database: BenchDatabase) -> Dataset | None:
    """The data a reused database holds, if it was fully loaded under today's migrations."""
    conn = await asyncpg.connect(database.owner_dsn)
    try:
        stored = await stored_dataset(conn)
    finally:
        await conn.close()
    if stored is None:
        log(f"{database.name} exists but was not fully loaded")
        return None
    if stored.schema != schema_fingerprint():
        log(f"the migrations changed since {database.name} was loaded")
        return None
    return stored


async def _dataset(
    database: BenchDatabase, scale: Scale, *, stored: Dataset | None, audit_load: bool
) -> Dataset:
    if stored is not None:
        log(f"reusing the data loaded in {database.name}")
        return stored
    log(f"loading {scale.documents:,} documents and {scale.claims:,} claims...")
    started = time.perf_counter()
    dataset = await load(database.owner_dsn, scale, audit_load=audit_load, log=log)
    log(f"loaded in {time.perf_counter() - started:.1f} s")
    return dataset


async def _choose_workers(
    database: BenchDatabase,
    scale: Scale,
    dataset: Dataset,
    work_dir: Path,
    make_loader: MakeLoader,
    report: workloads.Report,
) -> int:
    """The count of workers that serves best a mix of reads and writes: each candidate serves
    the review read and claim creation (the two workloads with a rate target) for a few
    seconds; each rate is taken relative to the best count's on that workload, and the count
    with the highest sum wins."""
    for workers in scale.worker_candidates:
        with ApiServer(database, work_dir, workers) as server:
            loader = make_loader(server, scale.calibration_duration)
            await loader(_review(dataset))  # warm-up
            review = await loader(_review(dataset))
            try:
                create = await loader(workloads.create_load(dataset))
            finally:
                await workloads.delete_open_claims(database.owner_dsn, dataset.workspace_id)
        log(
            f"  {workers} worker(s): {review.rate:,.0f} req/s on the review read, "
            f"{create.rate:,.0f} on claim creation"
        )
        report.calibration.append(workloads.Calibration(workers, review, create))
    best_review = max(c.review.rate for c in report.calibration) or 1.0
    best_create = max(c.create.rate for c in report.calibration) or 1.0
    best = max(
        report.calibration,
        key=lambda c: c.review.rate / best_review + c.create.rate / best_create,
    )
    return best.workers


async def _postmaster(database: BenchDatabase) -> int | None:
    """PostgreSQL's main process when it runs on this machine, to measure its CPU."""
    conn = await asyncpg.connect(database.owner_dsn)
    try:
        backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
        parent = postmaster_of(backend)
    finally:
        await conn.close()
    return parent


def _review(dataset: Dataset) -> HttpLoad:
    doc = dataset.review_document_id
    return HttpLoad("get", [f"/api/v1/documents/{doc}/annotations"], dataset.tokens)


async def run(args: argparse.Namespace, argv: list[str]) -> int:
    scale = SCALES[args.scale]
    if args.duration:
        scale = replace(scale, duration=args.duration)
    if args.concurrency:
        scale = replace(scale, concurrency=args.concurrency)
    if args.rounds:
        scale = replace(scale, rounds=args.rounds)
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    work_dir = Path(tempfile.mkdtemp(prefix="factmark-bench-run-"))
    loader_label, make_loader = await _http_loader(args, scale, work_dir)
    selected = [w.strip() for w in (args.only or ",".join(WORKLOADS)).split(",") if w.strip()]
    report = workloads.Report()
    failures = 0
    with postgres_server(args.database_url, args.pgdata) as (admin_url, embedded):
        database, existed = await create_bench_database(
            admin_url, scale.name, embedded=embedded, reuse=args.reuse
        )
        stored = await _stored(database) if existed else None
        if existed and stored is None:
            log(f"dropping {database.name} to load it again")
            await drop_database(admin_url, database.name)
            database, _ = await create_bench_database(
                admin_url, scale.name, embedded=embedded, reuse=args.reuse
            )
        log(f"PostgreSQL {database.server_version}, database {database.name}")
        try:
            dataset = await _dataset(database, scale, stored=stored, audit_load=args.audit_load)
            if args.workers or len(scale.worker_candidates) == 1:
                report.workers = args.workers or scale.worker_candidates[0]
            else:
                log("choosing the number of API workers...")
                report.workers = await _choose_workers(
                    database, scale, dataset, work_dir, make_loader, report
                )
            log(f"API with {report.workers} worker(s)")
            with ApiServer(database, work_dir, report.workers) as server:
                ctx = workloads.Context(
                    scale=scale,
                    database=database,
                    dataset=dataset,
                    server=server,
                    http=make_loader(server, scale.duration),
                    http_part=make_loader(server, workloads.part_seconds(scale.duration)),
                    report=report,
                    log=log,
                    work_dir=work_dir,
                    postmaster=await _postmaster(database),
                )
                # warm-up: caches, pools, statement caches
                await make_loader(server, scale.calibration_duration)(_review(dataset))
                for number, workload in WORKLOADS.items():
                    if number not in selected:
                        continue
                    log(f"workload {number}: {workload.__name__}")
                    try:
                        await workload(ctx)
                    except Exception as exc:
                        failures += 1
                        log(traceback.format_exc())
                        log(f"server log tail:\n{server.log_tail()}")
                        report.outcomes.append(
                            workloads.Outcome(
                                f"{number}. {workload.__name__}",
                                f"failed: {type(exc).__name__}: {exc}"[:300],
                                "",
                                False,
                            )
                        )
        finally:
            if not args.reuse:
                await drop_database(admin_url, database.name)
    report.outcomes.sort(key=lambda o: o.workload)
    machine = Machine.describe(database.server_version, loader_label)
    command = "uv run python -m bench " + shlex.join(argv)
    section = render(
        scale=scale,
        dataset=dataset,
        database=database,
        report=report,
        machine=machine,
        command=command.strip(),
        started=started_at,
        seconds=time.perf_counter() - started,
    )
    print(section)
    readme = args.readme or (None if scale.name == "smoke" else README)
    if readme is not None:
        write_readme(readme, scale.name, section)
        log(f"results written to {readme}")
    if args.json:
        payload = {
            "scale": asdict(scale),
            "failures": failures,
            "workers": report.workers,
            "loader": loader_label,
            "outcomes": [asdict(o) for o in report.outcomes],
            "measurements": [{**asdict(m), "rate": m.result.rate} for m in report.measurements],
            "export": report.export_rows,
            "notes": report.notes,
            "calibration": [asdict(c) for c in report.calibration],
        }
        args.json.write_bytes(msgspec.json.format(msgspec.json.encode(payload)))
    shutil.rmtree(work_dir, ignore_errors=True)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    return asyncio.run(run(args, argv))
