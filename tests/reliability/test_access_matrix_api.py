"""Access control (OWASP API Security Top 10: broken object and function level authorisation,
mass assignment, excessive data exposure).

One declarative table, keyed by operationId, says who may call each operation; the matrix test
calls every operation of the OpenAPI document as every caller (no token, a user in no
workspace, viewer, reviewer, editor, admin) on a resource of their own workspace and of another
one, and checks the status each gets. An operation without an entry fails the test.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.conftest import World
from tests.reliability.conftest import record_figures
from tests.reliability.openapi_ops import operations
from tests.reliability.valid_requests import if_match, url_of, valid_body

ROLES = ("viewer", "reviewer", "editor", "admin")
CALLERS = ("anonymous", "nobody", *ROLES)
GRANTED = frozenset({200, 201, 204})


@dataclass(frozen=True)
class Rule:
    """Who may call an operation.

    ``minimum``: the lowest workspace role that may ("any" for every signed-in user, "public"
    for no credentials at all). ``only``: the callers allowed, where a role is not enough
    (authors: the fixture's annotations are the reviewer's). ``granted``: the statuses of an
    allowed call (some are refused afterwards for the resource's state, e.g. 409).
    ``scoped``: the operation addresses a workspace's resource, so another workspace's gives
    404 to everyone outside it; ``denied``: the status of a refused call (403 or, for what
    the caller may not even see, 404).
    """

    minimum: str
    granted: frozenset[int] = GRANTED
    scoped: bool = True
    only: frozenset[str] | None = None
    denied: int = 403


def r(minimum: str, *extra: int, only: tuple[str, ...] | None = None, denied: int = 403) -> Rule:
    return Rule(
        minimum,
        granted=GRANTED | set(extra),
        only=frozenset(only) if only else None,
        denied=denied,
    )


ANY = Rule("any", scoped=False)
PUBLIC = Rule("public", scoped=False)

TABLE: dict[str, Rule] = {
    # operations
    "live": PUBLIC,
    "ready": PUBLIC,
    "metrics": PUBLIC,
    "login": PUBLIC,
    # accounts
    "getMe": ANY,
    "listWorkspaces": ANY,
    "createWorkspace": ANY,
    "listTokens": ANY,
    "createToken": ANY,
    # a token is visible to its owner only: others get 404
    "revokeToken": Rule("any", scoped=False, only=frozenset({"admin"}), denied=404),
    "getLatestAuditCheckpoint": Rule("any", granted=GRANTED | {404}, scoped=False),
    "getWorkspace": r("viewer"),
    "updateWorkspace": r("admin"),
    "listMembers": r("viewer"),
    "addMember": r("admin"),
    "changeMemberRole": r("admin"),
    "removeMember": r("admin"),
    "listServiceTokens": r("admin"),
    "createServiceToken": r("admin"),
    # documents
    "listDocuments": r("viewer"),
    "createDocument": r("editor"),
    "getDocument": r("viewer"),
    "updateDocument": r("editor"),
    "deleteDocument": r("editor"),
    "purgeDocument": r("admin"),
    "getDocumentAnnotations": r("viewer"),
    "getDocumentHistory": r("viewer"),
    "exportClaims": r("viewer"),
    # claims (the fixture's open claim is the reviewer's: its author may edit it)
    "listClaims": r("viewer"),
    "listDocumentClaims": r("viewer"),
    "createClaim": r("reviewer"),
    "getClaim": r("viewer"),
    "updateClaim": r("reviewer"),
    "deleteClaim": r("reviewer"),
    "restoreClaim": r("editor", 409),  # the claim is not deleted: allowed, then 409
    # The workflow refuses any move a caller may not make with 409 and the moves allowed
    # (documented on the operation), a viewer's too, rather than 403: see tests/RELIABILITY.md.
    "transitionClaim": r("reviewer", denied=409),
    "getClaimHistory": r("viewer"),
    "correctClaim": r("editor"),
    # verdicts
    "listVerdicts": r("viewer"),
    "submitVerdict": r("reviewer"),
    "getVerdict": r("viewer"),
    "updateVerdict": r("reviewer"),
    "deleteVerdict": r("reviewer"),
    "approveVerdict": r("editor"),
    "getVerdictHistory": r("viewer"),
    # evidence
    "listEvidence": r("viewer"),
    "addEvidence": r("reviewer"),
    "getEvidence": r("viewer"),
    "updateEvidence": r("reviewer"),
    "deleteEvidence": r("reviewer"),
    "restoreEvidence": r("editor", 409),
    "getEvidenceHistory": r("viewer"),
    # comments: only their author edits them; editors may delete any
    "listComments": r("viewer"),
    "addComment": r("reviewer"),
    "editComment": r("reviewer", only=("reviewer",)),
    "deleteComment": r("reviewer"),
    # ratings
    "listRatings": r("viewer"),
    "createRating": r("editor"),
    "updateRating": r("editor"),
    "deleteRating": r("editor"),
    # audit
    "listWorkspaceAuditEvents": r("editor"),
    "verifyAuditChain": r("admin"),
}


def expected(rule: Rule, caller: str, own: bool) -> set[int]:
    if rule.minimum == "public":
        return set(rule.granted)
    if caller == "anonymous":
        return {401}
    if rule.scoped and (caller == "nobody" or not own):
        return {404}  # never reveal that another workspace's resource exists
    if rule.only is not None:
        return set(rule.granted) if caller in rule.only else {rule.denied}
    if rule.minimum == "any":
        return set(rule.granted)
    allowed = ROLES.index(caller) >= ROLES.index(rule.minimum)
    return set(rule.granted) if allowed else {rule.denied}


def test_every_operation_has_an_entry_in_the_table() -> None:
    documented = {op.operation_id for op in operations()}
    assert documented - set(TABLE) == set(), "add these operations to TABLE"
    assert set(TABLE) - documented == set(), "these operations no longer exist"


async def test_access_matrix(
    client: httpx.AsyncClient,
    world: World,
    resources: dict[str, str],
    other_resources: dict[str, str],
    connection: AsyncConnection,
) -> None:
    """Every operation x every caller x own or other workspace; each call in a savepoint that
    is rolled back, so that a delete or a purge does not change what the next call sees."""
    wrong: list[str] = []
    calls = 0
    for op in operations():
        rule = TABLE[op.operation_id]
        for own, where in ((True, resources), (False, other_resources)):
            if not own and not rule.scoped:
                continue
            url = url_of(op, where)
            owner = world["admin"] if own else world["outsider"]
            etag = await if_match(client, url, owner.headers) if "If-Match" in op.headers else None
            body = valid_body(op) if op.body_schema is not None else None
            for caller in CALLERS:
                headers = {} if caller == "anonymous" else dict(world[caller].headers)
                if etag:
                    headers["If-Match"] = etag
                savepoint = await connection.begin_nested()
                try:
                    response = await client.request(op.method, url, json=body, headers=headers)
                finally:
                    await savepoint.rollback()
                calls += 1
                want = expected(rule, caller, own)
                side = "own" if own else "other"
                if response.status_code not in want:
                    wrong.append(
                        f"{op.operation_id} as {caller} ({side} workspace): "
                        f"{response.status_code}, expected {sorted(want)}: {response.text[:160]}"
                    )
                elif response.status_code in {401, 403, 404} and (
                    response.headers["content-type"] != "application/problem+json"
                ):
                    wrong.append(f"{op.operation_id} as {caller} ({side}): not problem details")
    record_figures("access matrix", operations=len(TABLE), callers=len(CALLERS), calls=calls)
    assert wrong == [], "\n".join(wrong)
    assert calls > len(TABLE) * len(CALLERS)
