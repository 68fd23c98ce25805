"""Load the sample data in ``seeds/``: idempotent, and never demo users in production."""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts import service as accounts
from factmark.accounts.models import Membership, Role, User, Workspace
from factmark.documents import service as documents
from factmark.documents.models import Document

SEEDS_DIR = Path(__file__).resolve().parents[2] / "seeds"


class SeedRefused(RuntimeError):
    """Demo users may not be created in a production deployment."""


@dataclass
class SeedReport:
    created_users: dict[str, str] = field(default_factory=dict)
    """email -> the random password, shown once."""
    created_documents: int = 0
    created_claims: int = 0
    workspace_created: bool = False


async def database_is_empty(session: AsyncSession) -> bool:
    return not await session.scalar(select(func.count()).select_from(Workspace))


async def load(
    session: AsyncSession, *, production: bool, seeds_dir: Path = SEEDS_DIR
) -> SeedReport:
    """Create what is missing of the demo workspace, its users and documents."""
    if production:
        raise SeedRefused("FACTMARK_PRODUCTION is set: the seed never creates demo users there.")
    spec: dict[str, Any] = msgspec.json.decode((seeds_dir / "demo.json").read_bytes())
    actor = accounts.system_actor("seed")
    await accounts.set_audit_context(session, actor, reason="demo seed data")
    report = SeedReport()

    ws_spec = spec["workspace"]
    workspace = await session.scalar(select(Workspace).where(Workspace.slug == ws_spec["slug"]))
    if workspace is None:
        workspace = await accounts.create_workspace(
            session,
            actor,
            name=ws_spec["name"],
            slug=ws_spec["slug"],
            settings={snake_case(k): v for k, v in ws_spec.get("settings", {}).items()},
        )
        report.workspace_created = True

    for user_spec in spec["users"]:
        user = await accounts.get_user_by_email(session, user_spec["email"])
        if user is None:
            password = secrets.token_urlsafe(12)
            user = await accounts.create_user(
                session,
                email=user_spec["email"],
                password=password,
                display_name=user_spec["displayName"],
            )
            report.created_users[user.email] = password
        await _ensure_membership(session, workspace, user, Role(user_spec["role"]))

    for doc_spec in spec["documents"]:
        raw = (seeds_dir / doc_spec["file"]).read_text(encoding="utf-8")
        title, text = (
            _split_title(raw) if doc_spec.get("titleFromFirstLine") else (doc_spec["title"], raw)
        )
        exists = await session.scalar(
            select(Document.id).where(
                Document.workspace_id == workspace.id, Document.title == title
            )
        )
        if exists is None:
            await documents.create_document(
                session,
                actor,
                workspace.id,
                values={
                    "title": title,
                    "text": text,
                    "source_url": doc_spec.get("sourceUrl"),
                    "publisher": doc_spec.get("publisher"),
                    "author": doc_spec.get("author"),
                    "language": doc_spec.get("language"),
                    "tags": doc_spec.get("tags", []),
                    "metadata": doc_spec.get("metadata", {}),
                },
                max_codepoints=2_000_000,
                allow_duplicates=True,
            )
            report.created_documents += 1
    from factmark.annotations.seed import load_claims

    report.created_claims = await load_claims(session, workspace.id, spec.get("claims", []))
    await session.flush()
    return report


def _split_title(raw: str) -> tuple[str, str]:
    first, _, rest = raw.partition("\n")
    return first.strip(), rest


def snake_case(name: str) -> str:
    """``claimUrlTemplate`` -> ``claim_url_template``: the seed file is camelCase like the API."""
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


async def _ensure_membership(
    session: AsyncSession, workspace: Workspace, user: User, role: Role
) -> None:
    existing = await session.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace.id, Membership.user_id == user.id
        )
    )
    if existing is None:
        session.add(Membership(workspace_id=workspace.id, user_id=user.id, role=role.value))
        await session.flush()


def print_report(report: SeedReport) -> None:
    out = sys.stderr
    if report.created_users:
        print("Demo users created. Their passwords are shown this once:", file=out)
        for email, password in report.created_users.items():
            print(f"  {email:<24} {password}", file=out)
    if report.created_documents:
        print(f"Seed documents loaded: {report.created_documents}", file=out)
    if report.created_claims:
        print(f"Seed claims loaded: {report.created_claims}", file=out)
