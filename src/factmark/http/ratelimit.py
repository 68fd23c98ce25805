"""Fixed-window rate limits counted in PostgreSQL, so every server process shares them."""

from __future__ import annotations

import math
import random
import time
from datetime import UTC, datetime

from sqlalchemy import delete, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from factmark.errors import RateLimited
from factmark.http.models import RateLimitWindow


async def hit(engine: AsyncEngine, key: str, limit: int, window_seconds: int) -> None:
    """Count one request for ``key``; raise RateLimited with Retry-After past ``limit``.

    The count runs in its own short transaction so that refused and failed requests count too.
    """
    now = time.time()
    start = math.floor(now / window_seconds) * window_seconds
    window_start = datetime.fromtimestamp(start, tz=UTC)
    stmt = (
        insert(RateLimitWindow)
        .values(key=key[:300], window_start=window_start, hits=1)
        .on_conflict_do_update(
            index_elements=[RateLimitWindow.key, RateLimitWindow.window_start],
            set_={"hits": RateLimitWindow.hits + 1},
        )
        .returning(RateLimitWindow.hits)
    )
    async with engine.begin() as conn:
        hits = (await conn.execute(stmt)).scalar_one()
        if random.random() < 0.01:  # noqa: S311 - housekeeping, not security
            await conn.execute(
                delete(RateLimitWindow).where(
                    RateLimitWindow.window_start < func.now() - func.make_interval(0, 0, 0, 0, 1)
                )
            )
    if hits > limit:
        retry_after = max(1, math.ceil(start + window_seconds - now))
        raise RateLimited(
            f"Rate limit of {limit} requests per {window_seconds} s exceeded; retry later.",
            headers={"Retry-After": str(retry_after)},
        )
