"""The API under test: ``factmark serve`` in a subprocess, bound to 127.0.0.1 only."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from bench.postgres import BenchDatabase

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_environment(database: BenchDatabase, data_dir: Path, port: int) -> dict[str, str]:
    """Production settings, except the per-token rate limit, raised so that the benchmark's
    few tokens are not throttled (every request is still counted, as in production)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACTMARK_", "DATABASE_"))}
    env.update(
        {
            "DATABASE_URL": database.app_url,
            "DATABASE_MIGRATION_URL": database.owner_url,
            "FACTMARK_DATA_DIR": str(data_dir),
            "FACTMARK_MIGRATE_ON_START": "false",
            "FACTMARK_SEED_ON_START": "false",
            "FACTMARK_PRODUCTION": "true",
            "FACTMARK_API_RATE_LIMIT": "1000000000",
            "FACTMARK_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "PYTHONPATH": str(REPO_ROOT / "src"),
        }
    )
    return env


def _children(pid: int) -> list[int]:
    found: list[int] = []
    frontier = [pid]
    proc = Path("/proc")
    while frontier:
        parent = frontier.pop()
        for task in (proc / str(parent) / "task").glob("*/children"):
            try:
                kids = [int(p) for p in task.read_text().split()]
            except OSError:
                continue
            found.extend(kids)
            frontier.extend(kids)
    return found


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


@dataclass(slots=True)
class RssSampler:
    """Samples the resident memory of the server's processes every ``interval`` seconds."""

    pids: list[int]
    interval: float = 0.02
    peak_process: int = 0
    peak_total: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> tuple[int, int]:
        sizes = [rss_bytes(p) for p in self.pids]
        return max(sizes, default=0), sum(sizes)

    def _run(self) -> None:
        while not self._stop.is_set():
            biggest, total = self.sample()
            self.peak_process = max(self.peak_process, biggest)
            self.peak_total = max(self.peak_total, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class ApiServer:
    """``python -m factmark.cli serve --workers N`` (uvicorn), stopped with SIGTERM."""

    def __init__(self, database: BenchDatabase, data_dir: Path, workers: int) -> None:
        self.port = free_port()
        self.workers = workers
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"server-{workers}w-{self.port}.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "factmark.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            env=server_environment(database, data_dir, self.port),
            cwd=REPO_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        ok = 0
        with httpx.Client(base_url=self.base_url, timeout=5) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the API exited; see {self.log_path}:\n{self.log_tail()}")
                try:
                    ok = ok + 1 if client.get("/health/ready").status_code == 200 else 0
                except httpx.HTTPError:
                    ok = 0
                # Every worker answers once the count of workers is up and a few calls pass.
                if ok >= 5 and len(self.worker_pids()) >= self.workers:
                    return
                time.sleep(0.2 if ok == 0 else 0.05)
        raise RuntimeError(f"the API was not ready in {timeout:.0f} s:\n{self.log_tail()}")

    def worker_pids(self) -> list[int]:
        """The processes serving requests: the workers, or uvicorn itself with one worker."""
        if self.workers == 1:
            return [self.process.pid]
        return [p for p in _children(self.process.pid) if _is_python(p)]

    def all_pids(self) -> list[int]:
        return [self.process.pid, *_children(self.process.pid)]

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()

    def __enter__(self) -> ApiServer:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _is_python(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"python" in cmdline and b"resource_tracker" not in cmdline


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, *, with_reaped_children: bool = False) -> float:
    """User and system CPU of a process (and of its children that have exited, if asked)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # fields[0] is the state (field 3): utime is field 14, so fields[11]; then stime, cutime, cstime
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICKS


def postgres_cpu(postmaster: int) -> float:
    """CPU of a PostgreSQL server: the postmaster, the backends that exited (reaped into its
    children's times) and the live ones."""
    live = sum(cpu_seconds(child) for child in _children(postmaster))
    return cpu_seconds(postmaster, with_reaped_children=True) + live


def postmaster_of(backend_pid: int) -> int | None:
    """The parent of a backend, when the server runs on this machine."""
    try:
        fields = Path(f"/proc/{backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
        parent = int(fields[1])
        command = Path(f"/proc/{parent}/cmdline").read_bytes()
    except (OSError, IndexError, ValueError):
        return None
    return parent if b"postgres" in command else None


@dataclass(frozen=True, slots=True)
class CpuSample:
    server: float
    postgres: float | None
    client: float


def cpu_sample(server_pids: list[int], postmaster: int | None) -> CpuSample:
    own = os.times()
    return CpuSample(
        server=sum(cpu_seconds(p) for p in server_pids),
        postgres=postgres_cpu(postmaster) if postmaster else None,
        client=own.user + own.system + own.children_user + own.children_system,
    )
