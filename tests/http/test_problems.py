"""How errors that escape the services become problem details."""

from __future__ import annotations

import asyncpg
import msgspec
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.errors import Unauthenticated
from factmark.http.problems import exception_group_handler, internal_error_handler
from tests.conftest import World


async def test_a_unique_violation_that_escapes_a_service_is_a_409_not_a_500(
    session: AsyncSession, world: World
) -> None:
    """A concurrent request can take a unique value between a service's check and its insert."""
    with pytest.raises(IntegrityError) as caught:
        async with session.begin_nested():
            await session.execute(text("UPDATE workspaces SET slug = 'acme' WHERE slug = 'other'"))
    response = internal_error_handler(None, caught.value)  # type: ignore[arg-type]
    assert response.status_code == 409
    assert response.media_type == "application/problem+json"
    body = msgspec.to_builtins(response.content)
    assert body["code"] == "concurrent_conflict"
    assert "acme" not in body["detail"]


def test_any_other_unexpected_error_is_a_500_problem() -> None:
    response = internal_error_handler(None, RuntimeError("boom"))  # type: ignore[arg-type]
    assert response.status_code == 500
    assert msgspec.to_builtins(response.content)["code"] == "internal_error"


def test_errors_wrapped_in_an_exception_group_are_answered_as_themselves() -> None:
    """Litestar resolves some dependencies in a task group, which wraps what they raise."""
    down = OperationalError("SELECT 1", {}, ConnectionError("connection refused"))
    grouped = ExceptionGroup("dependencies", [ExceptionGroup("inner", [down])])
    response = exception_group_handler(None, grouped)  # type: ignore[arg-type]
    assert response.status_code == 503
    assert msgspec.to_builtins(response.content)["code"] == "database_unavailable"

    unauthenticated = ExceptionGroup("dependencies", [Unauthenticated("No token.")])
    response = exception_group_handler(None, unauthenticated)  # type: ignore[arg-type]
    assert response.status_code == 401

    other = ExceptionGroup("dependencies", [RuntimeError("boom")])
    response = exception_group_handler(None, other)  # type: ignore[arg-type]
    assert response.status_code == 500


def test_an_exception_group_with_a_refusal_answers_with_the_refusal() -> None:
    """When the actor refuses the caller (401) while a sibling dependency fails because the
    request ended (its database access closed), the 401 is the answer, whatever came first."""
    ended = RuntimeError("this request's database access has ended")
    grouped = ExceptionGroup(
        "dependencies", [ended, ExceptionGroup("inner", [Unauthenticated("No token.")])]
    )
    response = exception_group_handler(None, grouped)  # type: ignore[arg-type]
    assert response.status_code == 401


def test_asyncpg_errors_from_direct_statements_map_like_sqlalchemy_ones() -> None:
    """Statements sent to asyncpg directly (factmark.transaction) raise asyncpg's own
    exceptions: a unique violation is a 409, a closed connection or a shutdown a 503."""
    unique = asyncpg.UniqueViolationError("duplicate key value violates unique constraint")
    assert internal_error_handler(None, unique).status_code == 409  # type: ignore[arg-type]
    closed = asyncpg.InterfaceError("connection is closed")
    assert internal_error_handler(None, closed).status_code == 503  # type: ignore[arg-type]
    shutdown = asyncpg.exceptions.AdminShutdownError("terminating connection")
    assert internal_error_handler(None, shutdown).status_code == 503  # type: ignore[arg-type]
