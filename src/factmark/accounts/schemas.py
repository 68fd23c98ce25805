"""HTTP contract of accounts: login, the caller, workspaces, members and tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from factmark.accounts.models import Role
from factmark.schemas import Email, Name, Resource, Schema, Slug, Url

Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class LoginRequest(Schema):
    email: Email
    password: Password


class IssuedToken(Schema):
    """A token as issued: ``token`` is shown this once and never again."""

    id: uuid.UUID
    token: str
    name: str
    expires_at: datetime | None
    workspace_id: uuid.UUID | None = None
    role: Role | None = None


class WorkspaceRole(Schema):
    workspace_id: uuid.UUID
    slug: str
    name: str
    role: Role


class Me(Schema):
    id: uuid.UUID | None
    kind: str
    email: str | None
    display_name: str
    workspaces: list[WorkspaceRole]


class WorkspaceSettings(Schema, omit_defaults=True):
    """Publishing settings used by exports (schema.org ClaimReview)."""

    organisation_name: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    organisation_url: Url | None = None
    claim_url_template: (
        Annotated[
            str,
            msgspec.Meta(
                max_length=2048,
                description="URL of a published fact-check; {id} is replaced by the claim id.",
                examples=["https://factcheck.example.org/claims/{id}"],
            ),
        ]
        | None
    ) = None


class Workspace(Resource):
    name: str
    slug: str
    settings: WorkspaceSettings
    role: Role | None = None


class WorkspaceCreate(Schema):
    name: Name
    slug: Slug
    settings: WorkspaceSettings | None = None


class WorkspacePatch(Schema):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    settings: WorkspaceSettings | msgspec.UnsetType = msgspec.UNSET


class WorkspacePage(Schema):
    items: list[Workspace]
    next_cursor: str | None


class Member(Resource):
    workspace_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    display_name: str
    role: Role


class MemberCreate(Schema):
    email: Email
    role: Role


class MemberPatch(Schema):
    role: Role


class MemberPage(Schema):
    items: list[Member]
    next_cursor: str | None


class Token(Resource):
    name: str
    prefix: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    workspace_id: uuid.UUID | None
    role: Role | None
    user_id: uuid.UUID | None


class TokenCreate(Schema):
    name: Name
    expires_in_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None


class ServiceTokenCreate(Schema):
    name: Name
    role: Role = Role.VIEWER
    expires_in_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None


class TokenPage(Schema):
    items: list[Token]
    next_cursor: str | None
