"""Fixtures of the export tests: claims built as ORM rows (not through the annotations API),
the seed data, and readers for every format."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from factmark import seed
from factmark.accounts import service as accounts
from factmark.accounts.models import Workspace
from factmark.annotations.models import Claim, ClaimSpan, Correction, Evidence, Rating, Verdict
from factmark.annotations.spans import QUOTE_CONTEXT
from factmark.documents.models import Document
from tests.conftest import World

ARTICLE = (
    "The minister said unemployment fell by half since 2020. "
    "Critics 👍🏽 say the figure ignores part-time work. "
    "Café owners (e\u0301) disagree. "
    "The budget deficit is the lowest in a decade."
)
TEMPLATE = "https://factcheck.example.org/claims/{id}"


def export_url(workspace: str = "acme", **params: Any) -> str:
    query = "&".join(
        f"{k}={v}"
        for k, values in params.items()
        for v in (values if isinstance(values, list) else [values])
    )
    return f"/api/v1/workspaces/{workspace}/exports/claims" + (f"?{query}" if query else "")


def ndjson(body: bytes) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The items and the trailer of an NDJSON export."""
    lines = [msgspec.json.decode(line) for line in body.splitlines()]
    assert lines, "an export always has its trailer line"
    return lines[:-1], lines[-1]


def csv_rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


@dataclass
class Desk:
    """Builds documents, claims, verdicts, evidence and corrections in a workspace, as the
    annotations service would leave them."""

    session: AsyncSession
    workspace_id: uuid.UUID
    editor_id: uuid.UUID
    reviewer_id: uuid.UUID
    clock: datetime = field(default_factory=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=UTC))

    def tick(self) -> datetime:
        self.clock += timedelta(minutes=1)
        return self.clock

    async def rating(self, key: str) -> Rating:
        rating = await self.session.scalar(
            select(Rating).where(Rating.workspace_id == self.workspace_id, Rating.key == key)
        )
        assert rating is not None, key
        return rating

    async def settings(self, **values: str) -> None:
        workspace = await self.session.get_one(Workspace, self.workspace_id)
        workspace.settings = {**workspace.settings, **values}
        workspace.version += 1
        await self.session.flush()

    async def document(self, text: str = ARTICLE, **values: Any) -> Document:
        values.setdefault("title", "Budget speech")
        values.setdefault("source_url", "https://news.example.org/budget-speech")
        values.setdefault("publisher", "Example News")
        values.setdefault("author", "Ann Author")
        values.setdefault("published_at", datetime(2026, 2, 27, 9, 30, tzinfo=UTC))
        doc = Document(
            workspace_id=self.workspace_id,
            text=text,
            text_sha256=uuid.uuid4().hex,
            length_codepoints=len(text),
            length_utf16=len(text.encode("utf-16-le")) // 2,
            **values,
        )
        self.session.add(doc)
        await self.session.flush()
        return doc

    async def claim(
        self,
        doc: Document,
        *phrases: str,
        statement: str | None = None,
        claimant: str | None = "Jane Minister",
        **values: Any,
    ) -> Claim:
        now = self.tick()
        values.setdefault("claimant_role", "Minister of Labour")
        values.setdefault("claimant_organisation", "Government")
        values.setdefault("claimed_at", datetime(2026, 2, 26, tzinfo=UTC))
        values.setdefault("tags", ["economy"])
        phrases = phrases or ("unemployment fell by half since 2020",)
        starts = [doc.text.index(p) for p in phrases]
        claim = Claim(
            workspace_id=self.workspace_id,
            document_id=doc.id,
            statement=statement or phrases[0],
            claimant_name=claimant,
            first_offset=min(starts),
            created_by=self.reviewer_id,
            created_at=now,
            updated_at=now,
            **values,
        )
        self.session.add(claim)
        await self.session.flush()
        for ordinal, (phrase, start) in enumerate(zip(phrases, starts, strict=True)):
            end = start + len(phrase)
            prefix = doc.text[max(0, start - QUOTE_CONTEXT) : start]
            utf16 = len(doc.text[:start].encode("utf-16-le")) // 2
            self.session.add(
                ClaimSpan(
                    workspace_id=self.workspace_id,
                    claim_id=claim.id,
                    document_id=doc.id,
                    ordinal=ordinal,
                    start_offset=start,
                    end_offset=end,
                    start_utf16=utf16,
                    end_utf16=utf16 + len(phrase.encode("utf-16-le")) // 2,
                    exact=phrase,
                    prefix=prefix,
                    suffix=doc.text[end : end + QUOTE_CONTEXT],
                )
            )
        await self.session.flush()
        return claim

    async def touch(self, claim: Claim, at: datetime | None = None, **changes: Any) -> Claim:
        for name, value in changes.items():
            setattr(claim, name, value)
        claim.version += 1
        claim.updated_at = at or self.tick()
        await self.session.flush()
        return claim

    async def verdict(
        self,
        claim: Claim,
        rating_key: str,
        summary: str = "The official figures show a fall of a third, not a half.",
        *,
        by: uuid.UUID | None = None,
        approve: bool = True,
    ) -> Verdict:
        rating = await self.rating(rating_key)
        verdict = Verdict(
            workspace_id=self.workspace_id,
            claim_id=claim.id,
            document_id=claim.document_id,
            rating_id=rating.id,
            summary=summary,
            confidence=0.8,
            state="submitted",
            created_by=by or self.reviewer_id,
        )
        self.session.add(verdict)
        await self.session.flush()
        if approve:
            await self.approve(claim, verdict)
        return verdict

    async def approve(self, claim: Claim, verdict: Verdict) -> None:
        now = self.tick()
        verdict.state = "approved"
        verdict.approved_by = self.editor_id
        verdict.approved_at = now
        verdict.version += 1
        await self.touch(
            claim, now, status="verified", approved_verdict_id=verdict.id, verified_at=now
        )

    async def evidence(self, claim: Claim, **values: Any) -> Evidence:
        values.setdefault("stance", "refutes")
        values.setdefault("source_url", "https://stats.example.org/labour-2025")
        values.setdefault("title", "Labour force survey 2025")
        values.setdefault("publisher", "Statistics Office")
        values.setdefault("quote", "Unemployment fell from 6.0% to 4.1%.")
        evidence = Evidence(
            workspace_id=self.workspace_id,
            claim_id=claim.id,
            document_id=claim.document_id,
            created_by=self.reviewer_id,
            created_at=self.tick(),
            **values,
        )
        self.session.add(evidence)
        await self.session.flush()
        return evidence

    async def correct(self, claim: Claim, rating_key: str, note: str) -> Correction:
        assert claim.approved_verdict_id is not None
        old = await self.session.get_one(Verdict, claim.approved_verdict_id)
        old_rating = await self.session.get_one(Rating, old.rating_id)
        new = await self.verdict(claim, rating_key, "New figures change the rating.", approve=False)
        old.state = "superseded"
        old.superseded_at = self.tick()
        old.version += 1
        await self.approve(claim, new)
        correction = Correction(
            workspace_id=self.workspace_id,
            claim_id=claim.id,
            document_id=claim.document_id,
            note=note,
            previous_verdict_id=old.id,
            new_verdict_id=new.id,
            previous_rating_key=old_rating.key,
            new_rating_key=rating_key,
            created_by=self.editor_id,
            created_at=self.tick(),
        )
        self.session.add(correction)
        await self.session.flush()
        return correction

    async def reopen(self, claim: Claim) -> None:
        assert claim.approved_verdict_id is not None
        verdict = await self.session.get_one(Verdict, claim.approved_verdict_id)
        verdict.state = "superseded"
        verdict.version += 1
        await self.touch(claim, status="in_review", approved_verdict_id=None, verified_at=None)


@pytest.fixture
async def desk(session: AsyncSession, world: World) -> Desk:
    await accounts.set_audit_context(session, accounts.system_actor("tests"))
    desk = Desk(session, world.workspace_id, world["editor"].user_id, world["reviewer"].user_id)
    await desk.settings(
        organisation_name="Acme Fact Check",
        organisation_url="https://factcheck.example.org",
        claim_url_template=TEMPLATE,
    )
    return desk


@pytest.fixture
async def demo(session: AsyncSession, client: httpx.AsyncClient) -> dict[str, str]:
    """The seed data (workspace ``demo``) and the headers of its viewer."""
    await seed.load(session, production=False)
    viewer = await accounts.get_user_by_email(session, "viewer@example.com")
    assert viewer is not None
    await accounts.set_audit_context(session, accounts.system_actor("tests"))
    token, _ = await accounts.create_token_for_user(session, viewer, name="export")
    await session.commit()
    return {"Authorization": f"Bearer {token}"}


async def audit_seq(session: AsyncSession) -> int:
    return int(
        (await session.execute(text("SELECT coalesce(max(seq), 0) FROM audit_events"))).scalar_one()
    )
