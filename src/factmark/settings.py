"""One frozen Settings object, read from the environment.

Every setting is an environment variable prefixed ``FACTMARK_``, except the conventional
``DATABASE_URL`` and ``DATABASE_REPLICA_URL``. Defaults are documented in the README.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Self


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used."""


def _bool(raw: str, name: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _int(raw: str, name: str, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class Settings:
    """Runtime configuration. Build with :meth:`from_env`; tests use :func:`dataclasses.replace`."""

    database_url: str | None = None
    """``DATABASE_URL``: ``postgresql+asyncpg://...``. Unset: an embedded PostgreSQL in data_dir."""
    database_replica_url: str | None = None
    """``DATABASE_REPLICA_URL``: a read replica for reads that may lag (lists, search, exports)."""
    database_migration_url: str | None = None
    """``DATABASE_MIGRATION_URL``: the schema owner's URL for migrations; defaults to DATABASE_URL."""
    data_dir: Path = field(default_factory=lambda: Path(".factmark"))
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 16 * 1024 * 1024
    max_document_codepoints: int = 2_000_000
    login_rate_limit: int = 10
    """Login attempts allowed per email and per client address in each window."""
    api_rate_limit: int = 1200
    """Requests allowed per token (or per client address when anonymous) in each window."""
    rate_limit_window_seconds: int = 60
    token_ttl_days: int = 30
    """Lifetime of tokens issued by login; 0 means they do not expire."""
    request_timeout_seconds: int = 30
    log_level: str = "INFO"
    log_format: str = "json"
    migrate_on_start: bool = True
    seed_on_start: bool = True
    production: bool = False
    """Marks a production deployment: demo users are never created."""
    db_pool_size: int = 20
    audit_signing_key: str | None = None
    """Base64 Ed25519 private key (32 raw bytes) for audit checkpoints; generated in data_dir if unset."""
    sealer_interval_seconds: float = 1.0
    public_base_url: str = "http://127.0.0.1:8000"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        """Read the settings from ``env`` (default: ``os.environ``)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}

        def get(name: str) -> str | None:
            raw = env.get(name)
            return raw if raw not in (None, "") else None

        if (url := get("DATABASE_URL")) is not None:
            values["database_url"] = normalise_database_url(url)
        if (url := get("DATABASE_REPLICA_URL")) is not None:
            values["database_replica_url"] = normalise_database_url(url)
        if (url := get("DATABASE_MIGRATION_URL")) is not None:
            values["database_migration_url"] = normalise_database_url(url)
        ints = {
            "FACTMARK_PORT": "port",
            "FACTMARK_WORKERS": "workers",
            "FACTMARK_MAX_BODY_BYTES": "max_body_bytes",
            "FACTMARK_MAX_DOCUMENT_CODEPOINTS": "max_document_codepoints",
            "FACTMARK_LOGIN_RATE_LIMIT": "login_rate_limit",
            "FACTMARK_API_RATE_LIMIT": "api_rate_limit",
            "FACTMARK_RATE_LIMIT_WINDOW_SECONDS": "rate_limit_window_seconds",
            "FACTMARK_TOKEN_TTL_DAYS": "token_ttl_days",
            "FACTMARK_REQUEST_TIMEOUT_SECONDS": "request_timeout_seconds",
            "FACTMARK_DB_POOL_SIZE": "db_pool_size",
        }
        for name, attr in ints.items():
            if (raw := get(name)) is not None:
                values[attr] = _int(raw, name, minimum=1 if attr != "token_ttl_days" else 0)
        bools = {
            "FACTMARK_MIGRATE_ON_START": "migrate_on_start",
            "FACTMARK_SEED_ON_START": "seed_on_start",
            "FACTMARK_PRODUCTION": "production",
        }
        for name, attr in bools.items():
            if (raw := get(name)) is not None:
                values[attr] = _bool(raw, name)
        if (raw := get("FACTMARK_DATA_DIR")) is not None:
            values["data_dir"] = Path(raw)
        if (raw := get("FACTMARK_HOST")) is not None:
            values["host"] = raw
        if (raw := get("FACTMARK_CORS_ORIGINS")) is not None:
            values["cors_origins"] = _list(raw)
        if (raw := get("FACTMARK_LOG_LEVEL")) is not None:
            values["log_level"] = raw.upper()
        if (raw := get("FACTMARK_LOG_FORMAT")) is not None:
            if raw not in {"json", "console"}:
                raise SettingsError("FACTMARK_LOG_FORMAT must be json or console")
            values["log_format"] = raw
        if (raw := get("FACTMARK_AUDIT_SIGNING_KEY")) is not None:
            values["audit_signing_key"] = raw
        if (raw := get("FACTMARK_SEALER_INTERVAL_SECONDS")) is not None:
            try:
                values["sealer_interval_seconds"] = float(raw)
            except ValueError:
                raise SettingsError("FACTMARK_SEALER_INTERVAL_SECONDS must be a number") from None
        if (raw := get("FACTMARK_PUBLIC_BASE_URL")) is not None:
            values["public_base_url"] = raw.rstrip("/")
        return cls(**values)  # type: ignore[arg-type]

    def with_database(self, url: str) -> Settings:
        return replace(self, database_url=url)


def normalise_database_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and always use the asyncpg driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if not url.startswith("postgresql+asyncpg://"):
        raise SettingsError("DATABASE_URL must be a PostgreSQL URL (postgresql+asyncpg://...)")
    return url
