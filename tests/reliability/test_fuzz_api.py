"""Fuzzing the whole API with schemathesis, against our own OpenAPI document, over real HTTP.

A bounded run (FACTMARK_FUZZ_SECONDS, default 60 s) is part of every test run; ``bench/fuzz``
runs a long one. Every failure it ever found is a regular test in test_fuzz_regressions_api.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import text

from factmark.db import DatabaseUrls, create_engine
from tests.reliability import live
from tests.reliability.conftest import record_figures
from tests.reliability.fuzzing import DEFAULT_SEED, run_schemathesis

FUZZ_SECONDS = int(os.environ.get("FACTMARK_FUZZ_SECONDS", "60"))
FUZZ_SEED = int(os.environ.get("FACTMARK_FUZZ_SEED", str(DEFAULT_SEED)))


async def test_schemathesis_finds_no_failure_in_any_operation(
    own_db: DatabaseUrls,
    server_factory: Callable[..., live.LiveServer],
    tmp_path: Path,
) -> None:
    world = await live.seed_world(own_db, admin_only=True)
    server = server_factory()
    async with httpx.AsyncClient(timeout=10) as client:
        operations = (await client.get(f"{server.base_url}/schema/openapi.json")).json()["paths"]
    documented = sum(
        1
        for item in operations.values()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )

    result = run_schemathesis(server, world, tmp_path, seconds=FUZZ_SECONDS, seed=FUZZ_SEED)

    created = await _created_by_fuzzer(own_db)
    record_figures(
        "fuzz",
        seconds=FUZZ_SECONDS,
        seed=FUZZ_SEED,
        operations=result.operations,
        cases=result.cases,
        failures=len(result.failures),
        errors=len(result.errors),
        **created,
    )
    assert result.report, result.output[-4000:]
    assert result.failures == [], result.summary()
    assert result.errors == [], result.summary()
    assert result.exit_code == 0, result.summary()
    assert result.operations == documented
    assert result.cases > 500
    # The stateful phase and the links it follows wrote through the API, not only read.
    assert created["documentsCreated"] > 0
    assert created["annotationsCreated"] > 0
    # Nothing went wrong on the server's side either: no unhandled error, no leaked connection.
    errors = [line for line in server.log().splitlines() if '"level":"error"' in line]
    assert errors == [], "\n".join(errors[:5])


async def _created_by_fuzzer(db: DatabaseUrls) -> dict[str, int]:
    """What the fuzzer's own requests created (audit events of the demo admin)."""
    engine = create_engine(db.owner, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT entity_type, count(*) FROM audit_events "
                    "WHERE action = 'create' AND actor_kind = 'user' GROUP BY entity_type"
                )
            )
            counts = {entity: int(n) for entity, n in rows}
    finally:
        await engine.dispose()
    return {
        "documentsCreated": counts.get("document", 0),
        "annotationsCreated": sum(
            counts.get(kind, 0) for kind in ("claim", "verdict", "evidence", "comment")
        ),
    }
