"""The ``factmark`` command: serve, db, seed, users, tokens, audit, export."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from factmark.accounts import service as accounts
from factmark.accounts.models import Role
from factmark.db import DatabaseUrls, create_engine, create_sessionmaker, resolve_database
from factmark.settings import Settings

T = TypeVar("T")


def _err(message: str) -> None:
    print(message, file=sys.stderr)


async def _in_transaction(url: str, fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    engine = create_engine(url, pool_size=1, application_name="factmark-cli")
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            return await fn(session)
    finally:
        await engine.dispose()


def _database(settings: Settings) -> DatabaseUrls:
    urls, _ = resolve_database(settings)
    return urls


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    urls, embedded = resolve_database(settings)
    # uvicorn re-raises SIGTERM after its graceful shutdown, which would end the process before
    # any cleanup: as an ordinary exit instead, the embedded PostgreSQL is stopped below.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return _serve(args, settings, urls)
    except KeyboardInterrupt:
        return 0
    finally:
        if embedded is not None:
            embedded.stop()  # stops the server unless another process still uses it


def _serve(args: argparse.Namespace, settings: Settings, urls: DatabaseUrls) -> int:
    import uvicorn

    from factmark import migrations, seed

    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    if settings.migrate_on_start:
        _err("Running migrations...")
        migrations.upgrade(urls.owner)
    if settings.seed_on_start and not settings.production:

        async def seed_if_empty(session: AsyncSession) -> seed.SeedReport | None:
            if await seed.database_is_empty(session):
                return await seed.load(session, production=settings.production)
            return None

        report = asyncio.run(_in_transaction(urls.owner, seed_if_empty))
        if report is not None:
            seed.print_report(report)
    # Worker processes read the same database from the environment.
    os.environ["DATABASE_URL"] = urls.app
    os.environ["DATABASE_MIGRATION_URL"] = urls.owner
    if urls.replica:
        os.environ["DATABASE_REPLICA_URL"] = urls.replica
    base = f"http://{host}:{port}"
    _err(
        f"factmark serving on {base}\n"
        f"  API docs:  {base}/docs  (OpenAPI: {base}/schema/openapi.json)\n"
        f"  A token:   uv run factmark tokens create --email admin@example.com\n"
        f'  Try:       curl -H "Authorization: Bearer $TOKEN" '
        f"{base}/api/v1/workspaces/demo/documents"
    )
    uvicorn.run(
        "factmark.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
    return 0


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from factmark import migrations

    urls = _database(settings)
    if args.action == "upgrade":
        migrations.upgrade(urls.owner, args.revision or "head")
    elif args.action == "downgrade":
        migrations.downgrade(urls.owner, args.revision or "base")
    elif args.action == "url":
        print(urls.app)
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    from factmark import seed

    urls = _database(settings)

    async def run(session: AsyncSession) -> seed.SeedReport:
        return await seed.load(session, production=settings.production)

    try:
        report = asyncio.run(_in_transaction(urls.owner, run))
    except seed.SeedRefused as exc:
        _err(str(exc))
        return 2
    seed.print_report(report)
    if not report.created_users and not report.created_documents:
        _err("Seed data already present; nothing to do.")
    return 0


def cmd_users_create(args: argparse.Namespace, settings: Settings) -> int:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    if args.password_stdin and not password:
        _err("No password on standard input.")
        return 2
    urls = _database(settings)

    async def run(session: AsyncSession) -> str:
        await accounts.set_audit_context(session, accounts.system_actor("cli"))
        user = await accounts.create_user(
            session, email=args.email, password=password, display_name=args.display_name
        )
        if args.workspace:
            workspace = await accounts.get_workspace(
                session, accounts.system_actor("cli"), args.workspace
            )
            from factmark.accounts.models import Membership

            session.add(
                Membership(workspace_id=workspace.id, user_id=user.id, role=Role(args.role).value)
            )
            await session.flush()
        return str(user.id)

    try:
        user_id = asyncio.run(_in_transaction(urls.owner, run))
    except Exception as exc:
        _err(f"error: {getattr(exc, 'detail', exc)}")
        return 1
    print(user_id)
    return 0


def cmd_tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    urls = _database(settings)

    async def run(session: AsyncSession) -> str | None:
        await accounts.set_audit_context(session, accounts.system_actor("cli"))
        user = await accounts.get_user_by_email(session, args.email)
        if user is None:
            return None
        token, _ = await accounts.create_token_for_user(
            session, user, name=args.name, expires_in_days=args.expires_in_days
        )
        return token

    token = asyncio.run(_in_transaction(urls.owner, run))
    if token is None:
        _err(f"error: no user with email {args.email}")
        return 1
    print(token)
    return 0


def cmd_audit_seal(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import timedelta

    from factmark.audit.sealer import Sealer, SealReport
    from factmark.audit.signing import load_signing_key

    urls = _database(settings)

    async def run() -> SealReport:
        # The app role's rights are enough: SELECT audit_events, INSERT audit_seals/checkpoints.
        engine = create_engine(urls.app, pool_size=1, application_name="factmark-cli")
        try:
            sealer = Sealer(load_signing_key(settings), checkpoint_interval=timedelta(0))
            return await sealer.run(create_sessionmaker(engine))
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    if report.busy:
        _err("Another sealer holds the lock (a server is sealing); nothing to do.")
        return 0
    head = report.head_hash.hex() if report.head_hash else "-"
    print(f"sealed {report.sealed} events; head position {report.head_position}, hash {head}")
    if report.checkpoint is not None:
        print(f"signed checkpoint at position {report.checkpoint.position}")
    return 0


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    import msgspec

    from factmark.audit.controller import verification_out
    from factmark.audit.signing import load_public_key
    from factmark.audit.verification import ChainReport, verify_chain

    urls = _database(settings)
    parallel = max(1, min(4, os.cpu_count() or 1))

    async def run() -> ChainReport:
        engine = create_engine(urls.app, pool_size=parallel, application_name="factmark-cli")
        sessionmaker = create_sessionmaker(engine)
        try:
            async with sessionmaker() as session:
                return await verify_chain(
                    session,
                    configured_key=load_public_key(settings),
                    sessionmaker=sessionmaker,
                    parallel=parallel,
                )
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    if args.json:
        print(msgspec.json.encode(verification_out(report)).decode())
    else:
        state = "OK" if report.ok else f"FAILED ({report.problem_count} problems)"
        print(
            f"audit chain {state}: {report.checked} sealed events checked in "
            f"{report.seconds:.2f} s, {report.unsealed} not sealed yet, "
            f"{report.checkpoints_checked} checkpoints"
        )
        for problem in report.problems:
            print(f"  {problem.kind} at position {problem.position}: {problem.detail}")
    return 0 if report.ok else 1


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from factmark.errors import DomainError
    from factmark.exports.command import Progress, export_to, print_watermark
    from factmark.exports.schemas import ExportFormat

    urls = _database(settings)
    out = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
    try:
        watermark = asyncio.run(
            export_to(
                out,
                settings,
                urls.replica or urls.app,
                workspace=args.workspace,
                export_format=ExportFormat(args.format),
                since=args.since,
                progress=Progress(sys.stderr) if args.output else None,
            )
        )
    except DomainError as exc:
        _err(f"error: {exc.detail}")
        return 1
    finally:
        if args.output:
            out.close()
    print_watermark(watermark)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="factmark", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, seed an empty database, and serve the API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.set_defaults(func=cmd_serve)

    db = sub.add_parser("db", help="database migrations")
    db.add_argument("action", choices=["upgrade", "downgrade", "url"])
    db.add_argument("revision", nargs="?")
    db.set_defaults(func=cmd_db)

    seed = sub.add_parser("seed", help="load the demo data (idempotent)")
    seed.set_defaults(func=cmd_seed)

    users = sub.add_parser("users", help="manage users").add_subparsers(
        dest="action", required=True
    )
    create = users.add_parser("create", help="create a user")
    create.add_argument("--email", required=True)
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    create.add_argument("--display-name")
    create.add_argument("--workspace", help="slug of a workspace to join")
    create.add_argument("--role", default="viewer", choices=[r.value for r in Role])
    create.set_defaults(func=cmd_users_create)

    tokens = sub.add_parser("tokens", help="manage tokens").add_subparsers(
        dest="action", required=True
    )
    tcreate = tokens.add_parser("create", help="create a token; prints only the token")
    tcreate.add_argument("--email", required=True)
    tcreate.add_argument("--name", default="cli")
    tcreate.add_argument("--expires-in-days", type=int)
    tcreate.set_defaults(func=cmd_tokens_create)

    audit = sub.add_parser("audit", help="the audit hash chain").add_subparsers(
        dest="action", required=True
    )
    seal = audit.add_parser("seal", help="seal committed audit events now and sign a checkpoint")
    seal.set_defaults(func=cmd_audit_seal)
    verify = audit.add_parser("verify", help="recompute the chain; exit status 1 on a problem")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(func=cmd_audit_verify)
    export = sub.add_parser(
        "export", help="export a workspace's verified claims (the export endpoint's content)"
    )
    export.add_argument("--workspace", required=True, help="slug or id of the workspace")
    export.add_argument(
        "--format", required=True, choices=["json", "ndjson", "csv", "claimreview", "w3c"]
    )
    export.add_argument("--since", help="watermark of an earlier export: only what changed")
    export.add_argument("--output", help="file to write (default: standard output)")
    export.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    func: Any = args.func
    return int(func(args, settings))


if __name__ == "__main__":
    raise SystemExit(main())
