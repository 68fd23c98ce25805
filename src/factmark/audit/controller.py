"""HTTP routes of the audit trail: history, the workspace feed, checkpoints, verification and
the purge of a document."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts import service as accounts
from factmark.accounts.service import Actor
from factmark.audit import service
from factmark.audit.chain import (
    CANONICAL_EVENT_SQL,
    CHECKPOINT_MESSAGE_FORMAT,
    Checkpoint,
    format_time,
)
from factmark.audit.schemas import (
    AuditActor,
    AuditCheckpoint,
    AuditEvent,
    AuditEventPage,
    ChainProblem,
    ChainVerification,
    CheckpointStatus,
    EntityType,
    FieldChange,
    PurgedCount,
    PurgeReceipt,
    PurgeRequest,
)
from factmark.audit.signing import load_public_key
from factmark.audit.verification import ChainReport
from factmark.http.idempotency import run_idempotent
from factmark.http.links import LINK_HEADER, next_link
from factmark.http.pagination import DEFAULT_LIMIT
from factmark.http.params import Cursor, IdempotencyKey, Limit, WorkspaceRef
from factmark.http.problems import problems
from factmark.transaction import driver_of

HISTORY_DESCRIPTION = (
    "Newest first, cursor-paginated. Each event has its actor (named as at the time), time, "
    "action, reason, request id and `changes`, the field-level diff against the state before "
    "it (`before` is null on creation, `after` null on a purge). Readable by any member of the "
    "workspace, also after a soft delete; after a purge, by the workspace's admins only."
)

CHECKPOINT_DESCRIPTION = f"""
The sealer chains every committed audit event: sealed event number `position` has
`hash = SHA-256(hash at position - 1 || SHA-256(canonical event text))`, starting from 32 zero
bytes, and it periodically signs the head of the chain with the server's Ed25519 key. Keep
copies of these checkpoints outside factmark: a later checkpoint, or
`GET /api/v1/workspaces/{{workspace}}/audit/verify`, must agree with every copy you hold.

**Checking a checkpoint.** {CHECKPOINT_MESSAGE_FORMAT} That text is also returned as `message`.
Verify `signature` over it with `publicKey` (both standard base64; the key is the raw 32
bytes). In Python with `cryptography`:

```python
from base64 import b64decode
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

message = f"factmark-checkpoint v1\\n{{c['position']}}\\n{{c['headHash']}}\\n{{c['createdAt']}}\\n"
key = Ed25519PublicKey.from_public_bytes(b64decode(c["publicKey"]))
key.verify(b64decode(c["signature"]), message.encode())  # raises InvalidSignature if forged
```

Pin the public key you trust; a checkpoint signed by another key proves nothing.

**Recomputing the chain** from a copy of the database: for each row of `audit_seals` in
`position` order, take its event `e` from `audit_events` (by `seq`), compute
`leaf = sha256(convert_to(<canonical text>, 'UTF8'))` with the canonical text

```sql
{CANONICAL_EVENT_SQL}
```

and `hash = sha256(previous hash || leaf)`; every stored hash, and every checkpoint's
`headHash`, must match. Any authenticated caller may read the latest checkpoint.
"""

Repeated = Annotated[list[str] | None, QueryParameter(required=False)]
VERIFY_PARALLEL = 2  # database connections computing event hashes at once


def actor_out(event: Any) -> AuditActor:
    return AuditActor(id=event.actor_id, kind=event.actor_kind, name=event.actor_name)


def event_out(entry: service.HistoryEntry) -> AuditEvent:
    e = entry.event
    return AuditEvent(
        seq=e.seq,
        occurred_at=e.occurred_at,
        action=e.action,
        entity_type=e.entity_type,  # type: ignore[arg-type]  # the trigger's names
        entity_id=e.entity_id,
        workspace_id=e.workspace_id,
        document_id=e.document_id,
        claim_id=e.claim_id,
        version=entry.version,
        actor=actor_out(e),
        reason=e.reason,
        request_id=e.request_id,
        idempotency_key=e.idempotency_key,
        changes=[FieldChange(field=c.field, before=c.before, after=c.after) for c in entry.changes],
        redacted=entry.redacted,
    )


def page_response(
    request: Request[Any, Any, Any], page: service.HistoryPage
) -> Response[AuditEventPage]:
    body = AuditEventPage(items=[event_out(e) for e in page.items], next_cursor=page.next_cursor)
    return Response(body, headers=next_link(request, page.next_cursor))


def checkpoint_out(checkpoint: Checkpoint) -> AuditCheckpoint:
    return AuditCheckpoint(
        position=checkpoint.position,
        head_hash=checkpoint.head_hash.hex(),
        created_at=format_time(checkpoint.created_at),
        algorithm="Ed25519",
        public_key=base64.b64encode(checkpoint.public_key).decode(),
        signature=base64.b64encode(checkpoint.signature).decode(),
        message=checkpoint.message.decode(),
        message_format=CHECKPOINT_MESSAGE_FORMAT,
    )


def verification_out(report: ChainReport) -> ChainVerification:
    latest = report.latest_checkpoint
    return ChainVerification(
        ok=report.ok,
        head_position=report.head_position,
        head_hash=report.head_hash.hex() if report.head_hash is not None else None,
        checked_events=report.checked,
        unsealed_events=report.unsealed,
        problem_count=report.problem_count,
        problems=[
            ChainProblem(kind=p.kind, position=p.position, seq=p.seq, detail=p.detail)
            for p in report.problems
        ],
        checkpoints_checked=report.checkpoints_checked,
        latest_checkpoint=CheckpointStatus(
            position=latest.position,
            created_at=latest.created_at,
            signature_valid=latest.signature_valid,
            head_hash_matches=latest.head_hash_matches,
            signed_by_configured_key=latest.signed_by_configured_key,
        )
        if latest is not None
        else None,
        duration_seconds=round(report.seconds, 3),
    )


class AuditController(Controller):
    path = "/api/v1"
    tags = ["Audit"]

    @get(
        "/audit/checkpoints/latest",
        operation_id="getLatestAuditCheckpoint",
        summary="The latest signed checkpoint of the audit hash chain (any authenticated user)",
        description=CHECKPOINT_DESCRIPTION,
        responses=problems(404),
    )
    async def latest_checkpoint(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> AuditCheckpoint:
        return checkpoint_out(await service.get_latest_checkpoint(db_session))

    @get(
        "/workspaces/{workspace:str}/audit",
        operation_id="listWorkspaceAuditEvents",
        response_headers=[LINK_HEADER],
        summary="The workspace's audit feed (editor)",
        description=(
            "Every recorded change in the workspace, newest first, cursor-paginated: documents, "
            "annotations, the rating scale, members and service tokens. Filter by `actor` (a "
            "user or token id), `entityType`, `action` (repeat any of them for several values) "
            "and the time range `since` (inclusive) to `until` (exclusive). Editors and admins; "
            "for editors, events of purged documents are `redacted`."
        ),
        responses=problems(403, 404, 422),
    )
    async def workspace_feed(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        workspace: WorkspaceRef,
        actor_ids: Annotated[
            list[str] | None,
            QueryParameter(name="actor", required=False, description="A user or token id."),
        ] = None,
        entity_type: Annotated[
            list[EntityType] | None, QueryParameter(name="entityType", required=False)
        ] = None,
        action: Repeated = None,
        since: Annotated[datetime | None, QueryParameter(required=False)] = None,
        until: Annotated[datetime | None, QueryParameter(required=False)] = None,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Response[AuditEventPage]:
        ws = await accounts.get_workspace(db_session, actor, workspace)
        filters = service.FeedFilters(
            actor_ids=actor_ids or (),
            entity_types=entity_type or (),
            actions=action or (),
            since=since,
            until=until,
        )
        page = await service.workspace_feed(
            db_session, actor, ws.id, filters, cursor=cursor, limit=limit
        )
        return page_response(request, page)

    @get(
        "/workspaces/{workspace:str}/audit/verify",
        operation_id="verifyAuditChain",
        summary="Recompute the audit hash chain and check the checkpoints (admin)",
        description=(
            "Recomputes the hash of every sealed event from position 1 and reports the first "
            "problems: an event whose content no longer matches its hash (named by `seq`), a "
            "sealed event that was deleted, a gap in positions, or a checkpoint that the chain "
            "no longer matches or whose signature is invalid. The chain covers every workspace "
            "(problems name positions and seqs only). Also `factmark audit verify`."
        ),
        responses=problems(403, 404, 422),
    )
    async def verify(
        self,
        state: State,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        workspace: WorkspaceRef,
    ) -> ChainVerification:
        ws = await accounts.get_workspace(db_session, actor, workspace)
        sessionmaker = state.get("audit_sessionmaker")  # set when the app owns its database
        report = await service.verify_for_workspace_admin(
            db_session,
            actor,
            ws.id,
            configured_key=load_public_key(state.settings),
            sessionmaker=sessionmaker,
            parallel=VERIFY_PARALLEL if sessionmaker is not None else 1,
        )
        return verification_out(report)

    @get(
        "/documents/{documentId:uuid}/history",
        operation_id="getDocumentHistory",
        response_headers=[LINK_HEADER],
        summary="Activity on a document and everything anchored to it (viewer)",
        description=(
            "The roll-up for a review screen's activity panel: the document's own events and "
            "those of its claims, spans, verdicts, corrections, evidence and comments. "
            + HISTORY_DESCRIPTION
        ),
        responses=problems(404, 422),
    )
    async def document_history(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        documentId: FromPath[uuid.UUID],  # noqa: N803 - camelCase path parameter
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Response[AuditEventPage]:
        page = await service.entity_history(
            db_session, actor, "document", documentId, cursor=cursor, limit=limit
        )
        return page_response(request, page)

    @get(
        "/claims/{claimId:uuid}/history",
        operation_id="getClaimHistory",
        response_headers=[LINK_HEADER],
        summary="History of a claim and its spans (viewer)",
        description=HISTORY_DESCRIPTION,
        responses=problems(404, 422),
    )
    async def claim_history(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        claimId: FromPath[uuid.UUID],  # noqa: N803
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Response[AuditEventPage]:
        page = await service.entity_history(
            db_session, actor, "claim", claimId, cursor=cursor, limit=limit
        )
        return page_response(request, page)

    @get(
        "/verdicts/{verdictId:uuid}/history",
        operation_id="getVerdictHistory",
        response_headers=[LINK_HEADER],
        summary="History of a verdict (viewer)",
        description=HISTORY_DESCRIPTION,
        responses=problems(404, 422),
    )
    async def verdict_history(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        verdictId: FromPath[uuid.UUID],  # noqa: N803
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Response[AuditEventPage]:
        page = await service.entity_history(
            db_session, actor, "verdict", verdictId, cursor=cursor, limit=limit
        )
        return page_response(request, page)

    @get(
        "/evidence/{evidenceId:uuid}/history",
        operation_id="getEvidenceHistory",
        response_headers=[LINK_HEADER],
        summary="History of a piece of evidence (viewer)",
        description=HISTORY_DESCRIPTION,
        responses=problems(404, 422),
    )
    async def evidence_history(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        evidenceId: FromPath[uuid.UUID],  # noqa: N803
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Response[AuditEventPage]:
        page = await service.entity_history(
            db_session, actor, "evidence", evidenceId, cursor=cursor, limit=limit
        )
        return page_response(request, page)

    @post(
        "/documents/{documentId:uuid}/purge",
        operation_id="purgeDocument",
        summary="Erase a document and its annotations for good (admin; legal takedowns)",
        description=(
            "Hard-deletes the document, soft-deleted or not, and every claim, span, verdict, "
            "correction, evidence and comment anchored to it. `reason` is required. The audit "
            "log keeps a `purge` event for every removed row, with the caller and the reason; "
            "their history stays readable to the workspace's admins only. Cannot be undone."
        ),
        status_code=200,
        responses=problems(403, 404, 422),
    )
    async def purge_document(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        documentId: FromPath[uuid.UUID],  # noqa: N803
        data: JSONBody[PurgeRequest],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[PurgeReceipt]:
        async def produce() -> Response[PurgeReceipt]:
            result = await service.purge_document(db_session, actor, documentId, reason=data.reason)
            receipt = PurgeReceipt(
                document_id=result.document_id,
                workspace_id=result.workspace_id,
                reason=result.reason,
                purged_at=result.event.occurred_at,
                purged_by=actor_out(result.event),
                purged_rows=[
                    PurgedCount(entity_type=entity, count=count)  # type: ignore[arg-type]
                    for entity, count in sorted(result.counts.items())
                ],
                audit_seq=result.event.seq,
            )
            return Response(receipt, status_code=200)

        return await run_idempotent(
            request, await driver_of(db_session), actor, PurgeReceipt, produce
        )
