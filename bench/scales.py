"""The sizes a run can use: full (the issue's figures), small (a quick run) and smoke (tests)."""

from __future__ import annotations

import os
from dataclasses import dataclass

WORKER_CANDIDATES = tuple(range(1, max(1, len(os.sched_getaffinity(0))) + 1))
"""API worker counts tried: one to one per core. More processes than cores only add switching
(PostgreSQL and the load generator share the cores too): on this 2-core machine, 3 workers cost
1.6 to 1.9 ms of API CPU and 1.9 to 2.5 ms of PostgreSQL CPU per claim creation, against 1.3
to 1.4 and 1.8 for one, yet the short calibration runs sometimes ranked them first."""


@dataclass(frozen=True, slots=True)
class Scale:
    name: str
    documents: int
    claims: int
    """Claims in the workspace, every one with a span, an approved verdict and one evidence."""
    review_claims: int
    """Claims on the one document the review-screen workload reads."""
    document_chars: int
    duration: float
    """Seconds of load per measurement; an interleaved comparison's parts last half of it."""
    rounds: int
    """Parts per side of an interleaved comparison (workloads 1, 2, 3 and 6): each side gets
    ``rounds * duration / 2`` seconds in all."""
    concurrency: int
    deep_page: int
    """The claims-list page (of 50) compared with page 1; capped by the claims there are."""
    export_sizes: tuple[int, ...]
    worker_candidates: tuple[int, ...]
    """API worker counts tried (on the review read and claim creation) before the workloads."""
    calibration_duration: float
    users: int
    """Reviewers with their own token; requests rotate over them as a review desk would."""
    audit_events: int
    """Audit events sealed and verified by workload 7 (in a scratch database)."""

    @property
    def max_page(self) -> int:
        return max(1, min(self.deep_page, (self.claims - 1) // 50))


SCALES: dict[str, Scale] = {
    "full": Scale(
        name="full",
        documents=10_000,
        claims=1_000_000,
        review_claims=200,
        document_chars=5_000,
        duration=15.0,
        rounds=4,
        concurrency=16,
        deep_page=5_000,
        export_sizes=(100_000, 1_000_000),
        worker_candidates=WORKER_CANDIDATES,
        calibration_duration=6.0,
        users=32,
        audit_events=1_000_000,
    ),
    "small": Scale(
        name="small",
        documents=200,
        claims=20_000,
        review_claims=200,
        document_chars=5_000,
        duration=10.0,
        rounds=4,
        concurrency=16,
        deep_page=5_000,
        export_sizes=(2_000, 20_000),
        worker_candidates=WORKER_CANDIDATES,
        calibration_duration=5.0,
        users=32,
        audit_events=50_000,
    ),
    "smoke": Scale(
        name="smoke",
        documents=6,
        claims=120,
        review_claims=20,
        document_chars=2_000,
        duration=0.25,
        rounds=2,
        concurrency=4,
        deep_page=5_000,
        export_sizes=(20, 120),
        worker_candidates=(1,),
        calibration_duration=0.25,
        users=3,
        audit_events=300,
    ),
}
