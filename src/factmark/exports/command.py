"""``factmark export``: the endpoint's export, written to a file or standard output.

It reads through the same service and format writers as ``GET .../exports/claims``, so the
bytes are the same (the endpoint may add gzip on the wire). Writing to a file shows a
progress bar on standard error; the watermark for the next ``--since`` is printed there too.
"""

from __future__ import annotations

import sys
import time
from typing import IO

from factmark.accounts import service as accounts
from factmark.db import create_engine, create_sessionmaker
from factmark.exports import formats, service
from factmark.exports.schemas import ExportFormat
from factmark.settings import Settings


class Progress:
    """A one-line progress bar on a terminal stream, redrawn at most five times a second."""

    WIDTH = 30

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self._drawn = 0.0

    def update(self, done: int, total: int | None, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < 0.2:
            return
        self._drawn = now
        rate = done / max(now - self.started, 1e-6)
        if total:
            filled = min(self.WIDTH, self.WIDTH * done // total)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            line = f"[{bar}] {min(100, 100 * done // total):3d}% {done:,}/{total:,} claims"
        else:
            line = f"{done:,} claims"
        self.stream.write(f"\r{line}  {rate:,.0f}/s ")
        self.stream.flush()

    def finish(self, done: int, total: int | None) -> None:
        self.update(done, total if total is not None else done, force=True)
        self.stream.write("\n")
        self.stream.flush()


async def export_to(
    out: IO[bytes],
    settings: Settings,
    database_url: str,
    *,
    workspace: str,
    export_format: ExportFormat,
    since: str | None,
    progress: Progress | None,
) -> str:
    """Write one export to ``out``; returns its watermark."""
    engine = create_engine(database_url, pool_size=2, application_name="factmark-export")
    sessionmaker = create_sessionmaker(engine)
    try:
        async with sessionmaker() as session:
            ws = await accounts.get_workspace(session, accounts.system_actor("cli"), workspace)
            formats.check_workspace_supports(export_format, ws.settings)
            start = await service.start_export(
                session,
                ws.id,
                service.ExportFilters(),
                since=since,
                base_url=settings.public_base_url,
            )
            await session.rollback()
        async with service.open_reader(sessionmaker, start) as reader:
            total = await reader.count() if progress is not None else None
            async for chunk in formats.WRITERS[export_format](reader):
                out.write(chunk)
                if progress is not None:
                    progress.update(reader.items_read, total)
            if progress is not None:
                progress.finish(reader.items_read, total)
        out.flush()
        return start.watermark
    finally:
        await engine.dispose()


def print_watermark(watermark: str) -> None:
    print(f"watermark: {watermark}", file=sys.stderr)
