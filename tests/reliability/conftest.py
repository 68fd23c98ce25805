"""Fixtures of the reliability tests: databases of their own (real commits) copied from a
migrated template, live servers on them, and the figures printed at the end of the run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from factmark.db import DatabaseUrls
from tests import databases
from tests.annotations.conftest import TEXT, create_claim, span_of
from tests.conftest import Member, World
from tests.reliability import live

FIGURES: dict[str, dict[str, Any]] = {}


def record_figures(name: str, **values: Any) -> None:
    """Figures of one test, shown in the run's summary and copied into tests/RELIABILITY.md."""
    FIGURES.setdefault(name, {}).update(values)


def add_figures(name: str, **values: int) -> None:
    """Add to figures that several tests (or parameters) share."""
    figures = FIGURES.setdefault(name, {})
    for key, value in values.items():
        figures[key] = figures.get(key, 0) + value


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, values in FIGURES.items():
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        terminalreporter.write_line(f"{name}: {shown}")


@pytest.fixture(scope="session")
async def reliability_template(database_urls: DatabaseUrls) -> AsyncIterator[str]:
    name = await databases.create_template(database_urls, live.TEMPLATE)
    yield name
    await databases.admin_sql(database_urls, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
async def own_db(
    database_urls: DatabaseUrls, reliability_template: str
) -> AsyncIterator[DatabaseUrls]:
    """A database of the test's own, migrated, with real commits; dropped afterwards."""
    db = await databases.create_database(database_urls, reliability_template, "factmark_rel")
    try:
        yield db
    finally:
        await databases.drop_database(database_urls, db)


@pytest.fixture
async def seeded(own_db: DatabaseUrls) -> live.SeededWorld:
    return await live.seed_world(own_db)


@pytest.fixture
def server_factory(
    own_db: DatabaseUrls, tmp_path: Path
) -> Iterator[Callable[..., live.LiveServer]]:
    """Start ``factmark serve`` processes on the test's database; all are stopped at the end."""
    started: list[live.LiveServer] = []

    def start(**env: str) -> live.LiveServer:
        server = live.LiveServer(own_db, tmp_path, env=env)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


# --- one workspace with one of everything, through the API, for tests over every operation -


@pytest.fixture
async def resources(client: httpx.AsyncClient, world: World) -> dict[str, str]:
    """Path parameter values (by name) that exist in ``acme``: a document; an open claim with a
    submitted verdict, evidence and a comment (all by the reviewer); a verified claim; an unused
    rating; a member (the viewer); a token (the admin's)."""
    return await make_resources(
        client,
        "acme",
        author=world["reviewer"],
        editor=world["editor"],
        admin=world["admin"],
        member=world["viewer"],
    )


@pytest.fixture
async def other_resources(client: httpx.AsyncClient, world: World) -> dict[str, str]:
    """The same in the workspace ``other``, whose only member is its admin (the outsider)."""
    outsider = world["outsider"]
    return await make_resources(
        client, "other", author=outsider, editor=outsider, admin=outsider, member=outsider
    )


async def make_resources(
    client: httpx.AsyncClient,
    workspace: str,
    *,
    author: Member,
    editor: Member,
    admin: Member,
    member: Member,
) -> dict[str, str]:
    document = await _created(
        client.post(
            f"/api/v1/workspaces/{workspace}/documents",
            json={"title": "Budget speech", "text": TEXT},
            headers=editor.headers,
        )
    )
    claim = await create_claim(client, author, document["id"])
    verdict = await _created(
        client.post(
            f"/api/v1/claims/{claim['id']}/verdicts",
            json={"rating": "false", "summary": "Official statistics show a 12% fall."},
            headers=author.headers,
        )
    )
    evidence = await _created(
        client.post(
            f"/api/v1/claims/{claim['id']}/evidence",
            json={"stance": "refutes", "sourceUrl": "https://stats.example/unemployment"},
            headers=author.headers,
        )
    )
    comment = await _created(
        client.post(
            f"/api/v1/claims/{claim['id']}/comments",
            json={"body": "Check the 2020 baseline."},
            headers=author.headers,
        )
    )
    verified = await create_claim(
        client, author, document["id"], spans=[span_of(TEXT, "budget deficit")]
    )
    approved = await _created(
        client.post(
            f"/api/v1/claims/{verified['id']}/verdicts",
            json={"rating": "true", "summary": "It is the lowest since 2014."},
            headers=editor.headers,
        )
    )
    done = await client.post(
        f"/api/v1/verdicts/{approved['id']}/approve",
        json={},
        headers={**editor.headers, "If-Match": f'"{approved["version"]}"'},
    )
    assert done.status_code == 200, done.text
    ratings = await client.get(f"/api/v1/workspaces/{workspace}/ratings", headers=editor.headers)
    tokens = await client.get("/api/v1/tokens", headers=admin.headers)
    return {
        "workspace": workspace,
        "documentId": document["id"],
        "claimId": claim["id"],
        "verifiedClaimId": verified["id"],
        "verdictId": verdict["id"],
        "evidenceId": evidence["id"],
        "commentId": comment["id"],
        "ratingId": next(r["id"] for r in ratings.json()["items"] if r["key"] == "misleading"),
        "userId": str(member.user_id),
        "tokenId": tokens.json()["items"][0]["id"],
    }


async def _created(request: Awaitable[httpx.Response]) -> dict[str, Any]:
    response = await request
    assert response.status_code == 201, response.text
    return dict(response.json())
