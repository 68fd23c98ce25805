"""Accounts rules: passwords, tokens, who the caller is, workspaces, members and roles."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts.models import ApiToken, Membership, Role, User, Workspace
from factmark.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated

_hasher = PasswordHasher()
# Verifying against this keeps login time the same whether or not the email exists.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
TOKEN_PREFIX = "fm_"  # noqa: S105 - a public prefix, not a secret
_UUID = re.compile(r"^[0-9a-fA-F-]{36}$")


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Swap the argon2 parameters; the test suite uses ``argon2.profiles.CHEAPEST``."""
    global _hasher
    _hasher = hasher


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def hash_token(token: str) -> bytes:
    """Tokens are 256 random bits, so one SHA-256 pass is a sufficient one-way hash."""
    return hashlib.sha256(token.encode()).digest()


def new_token() -> tuple[str, bytes, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_token(token), token[:10]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is calling: a user (personal token), a service token, or the system (CLI, seeds)."""

    kind: str
    id: str
    name: str
    user_id: uuid.UUID | None = None
    token_id: uuid.UUID | None = None
    roles: Mapping[uuid.UUID, Role] = field(default_factory=dict)

    def role_in(self, workspace_id: uuid.UUID) -> Role | None:
        if self.kind == "system":
            return Role.ADMIN
        return self.roles.get(workspace_id)

    @property
    def key(self) -> str:
        """A stable key for idempotency records and rate limits."""
        return f"{self.kind}:{self.token_id or self.id}"

    @property
    def workspace_ids(self) -> list[uuid.UUID]:
        return list(self.roles)


def system_actor(name: str = "cli") -> Actor:
    return Actor(kind="system", id=name, name=name)


def require_role(actor: Actor, workspace_id: uuid.UUID, minimum: Role) -> Role:
    """The caller's role in the workspace; 404 when they are not in it, 403 when it is too low."""
    role = actor.role_in(workspace_id)
    if role is None:
        raise NotFound("Not found.")
    if not role.at_least(minimum):
        raise Forbidden(f"This needs the {minimum.value} role or higher; you are {role.value}.")
    return role


def audit_context(
    actor: Actor,
    *,
    request_id: str | None = None,
    idempotency_key: str | None = None,
    reason: str | None = None,
) -> str:
    """The value of ``factmark.actor`` the audit triggers read: who is acting, and why."""
    payload = {
        "kind": actor.kind,
        "id": actor.id,
        "name": actor.name,
        "requestId": request_id,
        "idempotencyKey": idempotency_key,
        "reason": reason,
    }
    return msgspec.json.encode(payload).decode()


SET_AUDIT_CONTEXT = "SELECT set_config('factmark.actor', $1, true)"


async def set_audit_context(
    db: AsyncSession | asyncpg.Connection[Any],
    actor: Actor,
    *,
    request_id: str | None = None,
    idempotency_key: str | None = None,
    reason: str | None = None,
) -> None:
    """Tell the audit triggers who is acting and why, for this transaction only."""
    value = audit_context(
        actor, request_id=request_id, idempotency_key=idempotency_key, reason=reason
    )
    if isinstance(db, AsyncSession):  # not flushed first: set before pending changes
        await (await db.connection()).exec_driver_sql(SET_AUDIT_CONTEXT, (value,))
    else:
        await db.execute(SET_AUDIT_CONTEXT, value)


SET_CHANGE_REASON = "SELECT set_config('factmark.reason', $1, true)"


async def set_change_reason(db: AsyncSession | asyncpg.Connection[Any], reason: str | None) -> None:
    """The reason a request gave for its change, recorded with its audit events."""
    if reason and "\x00" in reason:
        # PostgreSQL settings (and text) cannot hold NUL: refuse it rather than fail with 500.
        raise Invalid("reason must not contain NUL characters.", field="reason")
    if not reason:
        return
    if isinstance(db, AsyncSession):  # not flushed first: set before pending changes
        await (await db.connection()).exec_driver_sql(SET_CHANGE_REASON, (reason,))
    else:
        await db.execute(SET_CHANGE_REASON, reason)


async def record_action(session: AsyncSession, entity_id: uuid.UUID, action: str) -> None:
    """Name the domain action (e.g. ``verdict.approved``) the next change of a row records."""
    with session.no_autoflush:  # set before pending changes are written
        await session.execute(
            text(
                "SELECT set_config('factmark.actions', "
                "(coalesce(nullif(current_setting('factmark.actions', true), ''), '{}')::jsonb "
                "|| jsonb_build_object(CAST(:id AS text), CAST(:action AS text)))::text, true)"
            ),
            {"id": str(entity_id), "action": action},
        )


# --- users and authentication -------------------------------------------------------------


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def create_user(
    session: AsyncSession, *, email: str, password: str | None, display_name: str | None = None
) -> User:
    email = normalise_email(email)
    existing = await session.scalar(select(User).where(User.email == email))
    if existing is not None:
        raise Conflict(f"A user with email {email} already exists.", code="user_exists")
    user = User(
        email=email,
        display_name=display_name or email.split("@")[0],
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    await session.flush()
    return user


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result: User | None = await session.scalar(
        select(User).where(User.email == normalise_email(email))
    )
    return result


AUTHENTICATE = """
    SELECT t.id, t.name, t.workspace_id, t.role, t.expires_at, t.last_used_at, t.revoked_at,
           u.id AS user_id, u.display_name, u.is_active,
           ARRAY(SELECT m.workspace_id::text || ' ' || m.role FROM memberships AS m
                  WHERE m.user_id = u.id) AS memberships
      FROM api_tokens AS t LEFT JOIN users AS u ON u.id = t.user_id
     WHERE t.token_hash = $1
"""
"""The token, its user and the user's memberships in one round trip: every request asks."""

# SKIP LOCKED: the row stays locked until this request commits, and concurrent requests with
# the same token must not queue behind it just to record the time of use.
RECORD_LAST_USE = """
    UPDATE api_tokens SET last_used_at = now()
     WHERE id = (SELECT id FROM api_tokens WHERE id = $1 FOR UPDATE SKIP LOCKED)
"""


def plain_uuid(value: uuid.UUID) -> uuid.UUID:
    """asyncpg's own UUID subclass, as the standard one the rest of the code compares with."""
    return value if type(value) is uuid.UUID else uuid.UUID(bytes=value.bytes)


def _roles(memberships: list[str]) -> dict[uuid.UUID, Role]:
    pairs = (m.split(" ", 1) for m in memberships)
    return {uuid.UUID(ws): Role(role) for ws, role in pairs}


async def authenticate(db: asyncpg.Connection[Any], token: str) -> Actor:
    """The actor behind a bearer token; 401 when it is unknown, expired, revoked or disabled.

    Runs on the request's asyncpg connection (``RequestDb.driver``): every request pays for it.
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        raise Unauthenticated("The bearer token is not valid.", code="invalid_token")
    row = await db.fetchrow(AUTHENTICATE, hash_token(token))
    if row is None:
        raise Unauthenticated("The bearer token is not valid.", code="invalid_token")
    now = datetime.now(UTC)
    if row["revoked_at"] is not None:
        raise Unauthenticated("The bearer token has been revoked.", code="token_revoked")
    expires_at = row["expires_at"]
    if expires_at is not None and expires_at <= now:
        raise Unauthenticated("The bearer token has expired.", code="token_expired")
    last_used_at = row["last_used_at"]
    if last_used_at is None or now - last_used_at > timedelta(minutes=1):
        await db.execute(RECORD_LAST_USE, row["id"])
    if row["user_id"] is not None:
        if not row["is_active"]:
            raise Unauthenticated("This account is disabled.", code="account_disabled")
        return Actor(
            kind="user",
            id=str(row["user_id"]),
            name=row["display_name"],
            user_id=plain_uuid(row["user_id"]),
            token_id=plain_uuid(row["id"]),
            roles=_roles(row["memberships"]),
        )
    workspace_id, role = row["workspace_id"], row["role"]
    assert workspace_id is not None
    assert role is not None
    return Actor(
        kind="token",
        id=str(row["id"]),
        name=f"service token {row['name']}",
        token_id=plain_uuid(row["id"]),
        roles={plain_uuid(workspace_id): Role(role)},
    )


async def login(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    ttl_days: int,
    request_id: str | None = None,
) -> tuple[str, ApiToken, User]:
    """A new bearer token for the user; its audit event carries the request's id."""
    user = await get_user_by_email(session, email)
    valid = verify_password(user.password_hash if user else None, password)
    if user is None or not valid or not user.is_active:
        raise Unauthenticated("Email or password is wrong.", code="invalid_credentials")
    actor = Actor(kind="user", id=str(user.id), name=user.display_name, user_id=user.id)
    await set_audit_context(session, actor, request_id=request_id)
    token, api_token = await _issue_token(
        session,
        name="login",
        user_id=user.id,
        created_by=user.id,
        expires_in_days=ttl_days or None,
    )
    return token, api_token, user


async def _issue_token(
    session: AsyncSession,
    *,
    name: str,
    user_id: uuid.UUID | None = None,
    workspace_id: uuid.UUID | None = None,
    role: Role | None = None,
    created_by: uuid.UUID | None,
    expires_in_days: int | None,
) -> tuple[str, ApiToken]:
    token, digest, prefix = new_token()
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    api_token = ApiToken(
        name=name,
        token_hash=digest,
        prefix=prefix,
        user_id=user_id,
        workspace_id=workspace_id,
        role=role.value if role else None,
        created_by=created_by,
        expires_at=expires_at,
    )
    session.add(api_token)
    await session.flush()
    return token, api_token


async def create_personal_token(
    session: AsyncSession, actor: Actor, *, name: str, expires_in_days: int | None
) -> tuple[str, ApiToken]:
    if actor.user_id is None:
        raise Forbidden("Service tokens cannot create tokens.")
    return await _issue_token(
        session,
        name=name,
        user_id=actor.user_id,
        created_by=actor.user_id,
        expires_in_days=expires_in_days,
    )


async def create_token_for_user(
    session: AsyncSession, user: User, *, name: str, expires_in_days: int | None = None
) -> tuple[str, ApiToken]:
    return await _issue_token(
        session, name=name, user_id=user.id, created_by=None, expires_in_days=expires_in_days
    )


async def create_service_token(
    session: AsyncSession,
    actor: Actor,
    workspace: Workspace,
    *,
    name: str,
    role: Role,
    expires_in_days: int | None,
) -> tuple[str, ApiToken]:
    require_role(actor, workspace.id, Role.ADMIN)
    return await _issue_token(
        session,
        name=name,
        workspace_id=workspace.id,
        role=role,
        created_by=actor.user_id,
        expires_in_days=expires_in_days,
    )


def _visible_tokens(actor: Actor) -> Any:
    """Own personal tokens, plus the service tokens of workspaces the caller administers."""
    admin_of = [ws for ws, role in actor.roles.items() if role is Role.ADMIN]
    conditions = []
    if actor.user_id is not None:
        conditions.append(ApiToken.user_id == actor.user_id)
        if admin_of:
            conditions.append(ApiToken.workspace_id.in_(admin_of))
    else:
        conditions.append(ApiToken.id == actor.token_id)
    return or_(*conditions)


async def list_tokens(
    session: AsyncSession, actor: Actor, *, workspace_id: uuid.UUID | None = None
) -> Sequence[ApiToken]:
    stmt = select(ApiToken).where(_visible_tokens(actor))
    if workspace_id is not None:
        stmt = stmt.where(ApiToken.workspace_id == workspace_id)
    return (await session.scalars(stmt.order_by(ApiToken.created_at, ApiToken.id))).all()


async def revoke_token(session: AsyncSession, actor: Actor, token_id: uuid.UUID) -> ApiToken:
    token = await session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, _visible_tokens(actor)).with_for_update()
    )
    if token is None:
        raise NotFound("Token not found.")
    if token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
        token.updated_at = datetime.now(UTC)
        token.version += 1
        await session.flush()
    return token


# --- workspaces ---------------------------------------------------------------------------


def _workspace_filter(ref: str) -> Any:
    if _UUID.match(ref):
        try:
            return Workspace.id == uuid.UUID(ref)
        except ValueError:
            pass
    return Workspace.slug == ref


async def get_workspace(
    session: AsyncSession, actor: Actor, ref: str, minimum: Role = Role.VIEWER
) -> Workspace:
    """A workspace by slug or id, only if the caller is a member (else 404)."""
    workspace = await session.scalar(select(Workspace).where(_workspace_filter(ref)))
    # The same answer whether it does not exist or the caller is not in it.
    if workspace is None or actor.role_in(workspace.id) is None:
        raise NotFound("Workspace not found.")
    require_role(actor, workspace.id, minimum)
    return workspace


async def list_workspaces(session: AsyncSession, actor: Actor) -> Sequence[Workspace]:
    if not actor.roles:
        return []
    stmt = select(Workspace).where(Workspace.id.in_(actor.workspace_ids))
    return (await session.scalars(stmt.order_by(Workspace.slug))).all()


async def create_workspace(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    slug: str,
    settings: dict[str, Any] | None = None,
) -> Workspace:
    if actor.kind == "token":
        raise Forbidden("Service tokens cannot create workspaces.")
    if await session.scalar(select(Workspace.id).where(Workspace.slug == slug)) is not None:
        raise Conflict(f"The slug {slug!r} is taken.", code="slug_taken", field="slug")
    workspace = Workspace(name=name, slug=slug, settings=settings or {}, created_by=actor.user_id)
    session.add(workspace)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent request took the slug after the check above
        raise Conflict(f"The slug {slug!r} is taken.", code="slug_taken", field="slug") from None
    if actor.user_id is not None:
        session.add(Membership(workspace_id=workspace.id, user_id=actor.user_id, role=Role.ADMIN))
    from factmark.annotations.service import create_default_scale

    await create_default_scale(session, workspace.id)
    await session.flush()
    return workspace


async def patch_workspace(
    session: AsyncSession,
    actor: Actor,
    workspace: Workspace,
    *,
    expected_version: int,
    name: str | None,
    settings: dict[str, Any] | None,
) -> Workspace:
    from factmark.http.concurrency import check_version

    require_role(actor, workspace.id, Role.ADMIN)
    await session.refresh(workspace, with_for_update=True)
    check_version(workspace.version, expected_version)
    if name is not None:
        workspace.name = name
    if settings is not None:
        workspace.settings = settings
    workspace.version += 1
    workspace.updated_at = datetime.now(UTC)
    await session.flush()
    return workspace


# --- members ------------------------------------------------------------------------------


async def list_members(
    session: AsyncSession, workspace: Workspace
) -> Sequence[tuple[Membership, User]]:
    rows = await session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace.id)
        .order_by(User.email)
    )
    return [(m, u) for m, u in rows]


async def add_member(
    session: AsyncSession, actor: Actor, workspace: Workspace, *, email: str, role: Role
) -> tuple[Membership, User]:
    require_role(actor, workspace.id, Role.ADMIN)
    user = await get_user_by_email(session, email)
    if user is None:
        raise Invalid("No user has this email.", field="email", code="user_not_found")
    existing = await session.scalar(
        select(Membership).where(
            Membership.workspace_id == workspace.id, Membership.user_id == user.id
        )
    )
    if existing is not None:
        raise Conflict("This user is already a member.", code="already_member")
    membership = Membership(workspace_id=workspace.id, user_id=user.id, role=role.value)
    session.add(membership)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent request added them after the check above
        raise Conflict("This user is already a member.", code="already_member") from None
    return membership, user


async def _member(
    session: AsyncSession, workspace: Workspace, user_id: uuid.UUID
) -> tuple[Membership, User]:
    row = (
        await session.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.workspace_id == workspace.id, Membership.user_id == user_id)
            .with_for_update(of=Membership)
        )
    ).first()
    if row is None:
        raise NotFound("Member not found.")
    return row[0], row[1]


async def _ensure_other_admin(
    session: AsyncSession, workspace: Workspace, user_id: uuid.UUID
) -> None:
    others = await session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(
            Membership.workspace_id == workspace.id,
            Membership.role == Role.ADMIN.value,
            Membership.user_id != user_id,
        )
    )
    if not others:
        raise Conflict("A workspace must keep at least one admin.", code="last_admin")


async def change_member_role(
    session: AsyncSession,
    actor: Actor,
    workspace: Workspace,
    user_id: uuid.UUID,
    *,
    role: Role,
    expected_version: int | None,
) -> tuple[Membership, User]:
    from factmark.http.concurrency import check_version

    require_role(actor, workspace.id, Role.ADMIN)
    membership, user = await _member(session, workspace, user_id)
    if expected_version is not None:
        check_version(membership.version, expected_version)
    if membership.role == Role.ADMIN.value and role is not Role.ADMIN:
        await _ensure_other_admin(session, workspace, user_id)
    if membership.role != role.value:
        membership.role = role.value
        membership.version += 1
        membership.updated_at = datetime.now(UTC)
        await session.flush()
    return membership, user


async def remove_member(
    session: AsyncSession,
    actor: Actor,
    workspace: Workspace,
    user_id: uuid.UUID,
    *,
    expected_version: int | None,
) -> None:
    from factmark.http.concurrency import check_version

    require_role(actor, workspace.id, Role.ADMIN)
    membership, _ = await _member(session, workspace, user_id)
    if expected_version is not None:
        check_version(membership.version, expected_version)
    if membership.role == Role.ADMIN.value:
        await _ensure_other_admin(session, workspace, user_id)
    # A hard delete would be recorded as a purge: say what it is in the workspace's history.
    await record_action(session, membership.id, "member.removed")
    await session.delete(membership)
    await session.flush()


async def workspace_roles(session: AsyncSession, actor: Actor) -> list[tuple[Workspace, Role]]:
    workspaces = await list_workspaces(session, actor)
    return [(ws, role) for ws in workspaces if (role := actor.role_in(ws.id)) is not None]
