"""HTTP routes of accounts: login, the caller, workspaces, members, tokens."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts import service
from factmark.accounts.models import ApiToken, Membership, Role, User
from factmark.accounts.models import Workspace as WorkspaceRow
from factmark.accounts.schemas import (
    IssuedToken,
    LoginRequest,
    Me,
    Member,
    MemberCreate,
    MemberPage,
    MemberPatch,
    ServiceTokenCreate,
    Token,
    TokenCreate,
    TokenPage,
    Workspace,
    WorkspaceCreate,
    WorkspacePage,
    WorkspacePatch,
    WorkspaceRole,
    WorkspaceSettings,
)
from factmark.accounts.service import Actor
from factmark.http.concurrency import ETAG_HEADER, etag, parse_if_match
from factmark.http.idempotency import run_idempotent
from factmark.http.openapi import PublicOperation
from factmark.http.params import IdempotencyKey, IfMatch, OptionalIfMatch, WorkspaceRef
from factmark.http.problems import problems, public_problems
from factmark.http.requests import request_id_of
from factmark.transaction import RequestDb, driver_of


def workspace_out(row: WorkspaceRow, role: Role | None = None) -> Workspace:
    return Workspace(
        id=row.id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
        name=row.name,
        slug=row.slug,
        settings=settings_out(row.settings),
        role=role,
    )


def member_out(membership: Membership, user: User) -> Member:
    return Member(
        id=membership.id,
        created_at=membership.created_at,
        updated_at=membership.updated_at,
        version=membership.version,
        workspace_id=membership.workspace_id,
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=Role(membership.role),
    )


def token_out(token: ApiToken) -> Token:
    return Token(
        id=token.id,
        created_at=token.created_at,
        updated_at=token.updated_at,
        version=token.version,
        name=token.name,
        prefix=token.prefix,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
        workspace_id=token.workspace_id,
        role=Role(token.role) if token.role else None,
        user_id=token.user_id,
    )


def issued_out(token: str, row: ApiToken) -> IssuedToken:
    return IssuedToken(
        id=row.id,
        token=token,
        name=row.name,
        expires_at=row.expires_at,
        workspace_id=row.workspace_id,
        role=Role(row.role) if row.role else None,
    )


def _settings_dict(settings: WorkspaceSettings | None) -> dict[str, Any]:
    """Workspace settings as stored: snake_case keys (what exports and the seed use), no nulls."""
    if settings is None:
        return {}
    values = {name: getattr(settings, name) for name in settings.__struct_fields__}
    return {name: value for name, value in values.items() if value is not None}


def settings_out(stored: dict[str, Any]) -> WorkspaceSettings:
    """The stored settings (snake_case keys) as the API shows them; unknown keys are ignored."""
    known = {k: v for k, v in stored.items() if k in WorkspaceSettings.__struct_fields__}
    return WorkspaceSettings(**known)


class AuthController(Controller):
    path = "/api/v1"
    tags = ["Accounts"]

    @post(
        "/auth/login",
        operation_id="login",
        summary="Exchange email and password for a bearer token",
        description="Rate limited per email and per client address. No credentials needed.",
        responses=public_problems(400, 401, 422, 429),
        security=[],
        operation_class=PublicOperation,
    )
    async def login(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db: NamedDependency[RequestDb],
        data: JSONBody[LoginRequest],
    ) -> IssuedToken:
        # The limits first: their syncs take connections of their own, and this request must
        # not hold its own while it waits for one (RequestDb checks out at first use).
        settings = state.settings
        client = request.client.host if request.client else "unknown"
        window = settings.rate_limit_window_seconds
        limiter = state.rate_limiter
        email = service.normalise_email(data.email)
        await limiter.hit(f"login:email:{email}", settings.login_rate_limit, window, exact=True)
        await limiter.hit(
            f"login:client:{client}", settings.login_rate_limit * 10, window, exact=True
        )
        token, row, _ = await service.login(
            await db.session(),
            email=data.email,
            password=data.password,
            ttl_days=settings.token_ttl_days,
            request_id=request_id_of(request.scope),
        )
        return issued_out(token, row)

    @get(
        "/me",
        operation_id="getMe",
        summary="The caller, their workspaces and roles",
        responses=problems(),
    )
    async def me(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> Me:
        email = None
        if actor.user_id is not None:
            user = await db_session.get(User, actor.user_id)
            email = user.email if user else None
        roles = await service.workspace_roles(db_session, actor)
        return Me(
            id=actor.user_id or actor.token_id,
            kind=actor.kind,
            email=email,
            display_name=actor.name,
            workspaces=[
                WorkspaceRole(workspace_id=ws.id, slug=ws.slug, name=ws.name, role=role)
                for ws, role in roles
            ],
        )


class WorkspaceController(Controller):
    path = "/api/v1/workspaces"
    tags = ["Workspaces"]

    @get(
        "/",
        operation_id="listWorkspaces",
        summary="Workspaces the caller belongs to (any role)",
        responses=problems(),
    )
    async def list_workspaces(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> WorkspacePage:
        rows = await service.list_workspaces(db_session, actor)
        return WorkspacePage(
            items=[workspace_out(w, actor.role_in(w.id)) for w in rows], next_cursor=None
        )

    @post(
        "/",
        operation_id="createWorkspace",
        response_headers=[ETAG_HEADER],
        summary="Create a workspace; the caller becomes its admin",
        description="Any signed-in user may create one. A default rating scale is created.",
        responses=problems(400, 403, 409, 422),
    )
    async def create_workspace(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        data: JSONBody[WorkspaceCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[Workspace]:
        async def produce() -> Response[Workspace]:
            row = await service.create_workspace(
                db_session,
                actor,
                name=data.name,
                slug=data.slug,
                settings=_settings_dict(data.settings),
            )
            return Response(
                workspace_out(row, Role.ADMIN if actor.user_id else None),
                status_code=201,
                headers={"ETag": etag(row.version)},
            )

        return await run_idempotent(request, await driver_of(db_session), actor, Workspace, produce)

    @get(
        "/{workspace:str}",
        operation_id="getWorkspace",
        response_headers=[ETAG_HEADER],
        summary="One workspace (viewer)",
        responses=problems(404, 422),
    )
    async def get_workspace(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        workspace: WorkspaceRef,
    ) -> Response[Workspace]:
        row = await service.get_workspace(db_session, actor, workspace)
        return Response(
            workspace_out(row, actor.role_in(row.id)), headers={"ETag": etag(row.version)}
        )

    @patch(
        "/{workspace:str}",
        operation_id="updateWorkspace",
        response_headers=[ETAG_HEADER],
        summary="Change a workspace's name or settings (admin; If-Match required)",
        responses=problems(400, 403, 404, 412, 422, 428),
    )
    async def patch_workspace(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        workspace: WorkspaceRef,
        data: JSONBody[WorkspacePatch],
        if_match: IfMatch = None,
    ) -> Response[Workspace]:
        row = await service.get_workspace(db_session, actor, workspace)
        expected = parse_if_match(if_match)
        row = await service.patch_workspace(
            db_session,
            actor,
            row,
            expected_version=expected,
            name=None if data.name is msgspec.UNSET else data.name,
            settings=None if data.settings is msgspec.UNSET else _settings_dict(data.settings),
        )
        return Response(
            workspace_out(row, actor.role_in(row.id)), headers={"ETag": etag(row.version)}
        )

    @get(
        "/{workspace:str}/members",
        operation_id="listMembers",
        summary="Members of a workspace and their roles (viewer)",
        responses=problems(404, 422),
    )
    async def list_members(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        workspace: WorkspaceRef,
    ) -> MemberPage:
        row = await service.get_workspace(db_session, actor, workspace)
        members = await service.list_members(db_session, row)
        return MemberPage(items=[member_out(m, u) for m, u in members], next_cursor=None)

    @post(
        "/{workspace:str}/members",
        operation_id="addMember",
        response_headers=[ETAG_HEADER],
        summary="Add an existing user to the workspace with a role (admin)",
        responses=problems(400, 403, 404, 409, 422),
    )
    async def add_member(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        workspace: WorkspaceRef,
        data: JSONBody[MemberCreate],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[Member]:
        row = await service.get_workspace(db_session, actor, workspace)

        async def produce() -> Response[Member]:
            membership, user = await service.add_member(
                db_session, actor, row, email=data.email, role=data.role
            )
            return Response(
                member_out(membership, user),
                status_code=201,
                headers={"ETag": etag(membership.version)},
            )

        return await run_idempotent(request, await driver_of(db_session), actor, Member, produce)

    @patch(
        "/{workspace:str}/members/{userId:uuid}",
        operation_id="changeMemberRole",
        response_headers=[ETAG_HEADER],
        summary="Change a member's role (admin)",
        description="If-Match is optional here; a workspace always keeps one admin.",
        responses=problems(400, 403, 404, 409, 412, 422),
    )
    async def change_role(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        workspace: WorkspaceRef,
        userId: FromPath[uuid.UUID],  # noqa: N803 - camelCase path parameter, as in the API
        data: JSONBody[MemberPatch],
        if_match: OptionalIfMatch = None,
    ) -> Response[Member]:
        row = await service.get_workspace(db_session, actor, workspace)
        expected = parse_if_match(if_match) if if_match else None
        membership, user = await service.change_member_role(
            db_session, actor, row, userId, role=data.role, expected_version=expected
        )
        return Response(member_out(membership, user), headers={"ETag": etag(membership.version)})

    @delete(
        "/{workspace:str}/members/{userId:uuid}",
        operation_id="removeMember",
        summary="Remove a member (admin)",
        responses=problems(403, 404, 409, 412, 422),
    )
    async def remove_member(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        workspace: WorkspaceRef,
        userId: FromPath[uuid.UUID],  # noqa: N803
        if_match: OptionalIfMatch = None,
    ) -> None:
        row = await service.get_workspace(db_session, actor, workspace)
        expected = parse_if_match(if_match) if if_match else None
        await service.remove_member(db_session, actor, row, userId, expected_version=expected)

    @get(
        "/{workspace:str}/tokens",
        operation_id="listServiceTokens",
        summary="Service tokens of the workspace (admin)",
        responses=problems(403, 404, 422),
    )
    async def list_service_tokens(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        workspace: WorkspaceRef,
    ) -> TokenPage:
        row = await service.get_workspace(db_session, actor, workspace, Role.ADMIN)
        tokens = await service.list_tokens(db_session, actor, workspace_id=row.id)
        return TokenPage(items=[token_out(t) for t in tokens], next_cursor=None)

    @post(
        "/{workspace:str}/tokens",
        operation_id="createServiceToken",
        summary="Create a service token acting in this workspace (admin)",
        description="For scripts and export pulls. The token is shown once in the response.",
        responses=problems(400, 403, 404, 422),
    )
    async def create_service_token(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        workspace: WorkspaceRef,
        data: JSONBody[ServiceTokenCreate],
    ) -> Response[IssuedToken]:
        row = await service.get_workspace(db_session, actor, workspace)
        token, token_row = await service.create_service_token(
            db_session,
            actor,
            row,
            name=data.name,
            role=data.role,
            expires_in_days=data.expires_in_days,
        )
        return Response(issued_out(token, token_row), status_code=201)


class TokenController(Controller):
    path = "/api/v1/tokens"
    tags = ["Accounts"]

    @get(
        "/",
        operation_id="listTokens",
        summary="The caller's own tokens, and service tokens of workspaces they administer",
        responses=problems(),
    )
    async def list_tokens(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> TokenPage:
        tokens = await service.list_tokens(db_session, actor)
        return TokenPage(items=[token_out(t) for t in tokens], next_cursor=None)

    @post(
        "/",
        operation_id="createToken",
        summary="Create a personal token (shown once)",
        responses=problems(400, 403, 422),
    )
    async def create_token(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        data: JSONBody[TokenCreate],
    ) -> Response[IssuedToken]:
        token, row = await service.create_personal_token(
            db_session, actor, name=data.name, expires_in_days=data.expires_in_days
        )
        return Response(issued_out(token, row), status_code=201)

    @delete(
        "/{tokenId:uuid}",
        operation_id="revokeToken",
        summary="Revoke a token (own, or a service token of a workspace you administer)",
        responses=problems(404),
    )
    async def revoke_token(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        tokenId: FromPath[uuid.UUID],  # noqa: N803
    ) -> None:
        await service.revoke_token(db_session, actor, tokenId)
