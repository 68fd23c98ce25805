"""Schemathesis hooks for the fuzz run (loaded through SCHEMATHESIS_HOOKS).

Authentication: an admin of the seeded ``demo`` workspace logs in for a token. The fuzzer may
well revoke that very token (``GET /tokens`` links to ``DELETE /tokens/{tokenId}``), which is
legitimate; schemathesis then refetches on 401, so the run keeps its credentials.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import schemathesis


@schemathesis.auth(refresh_interval=3600)
class AdminLogin:
    def get(self, case: Any, ctx: Any) -> str:
        response = httpx.post(
            os.environ["FUZZ_BASE_URL"] + "/api/v1/auth/login",
            json={"email": os.environ["FUZZ_EMAIL"], "password": os.environ["FUZZ_PASSWORD"]},
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["token"])

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
