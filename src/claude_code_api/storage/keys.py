"""API keys: generation, lookup by hash, revocation, listing.

A secret looks like ``ccapi_<43 url-safe characters>`` (256 random bits). Only its SHA-256 is
stored, plus a short display prefix. A fast unsalted hash is enough here: with 256 bits of
entropy a key cannot be brute-forced from its hash, so a slow KDF would only slow down every
request. The secret is shown once, at creation.

Lookups are cached in process for ``cache_ttl`` seconds (default 5). Revoking a key clears this
process's cache at once; other replicas stop accepting it within ``cache_ttl``. ``last_used_at``
is kept in memory and written at most once per ``touch_interval`` per process (and on
``close``), so authenticating never writes to the database on the hot path.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update

from claude_code_api.errors import NotFoundError
from claude_code_api.pricing import TIERS
from claude_code_api.storage.common import Clock, ensure_projects, naive_utc, utc_now
from claude_code_api.storage.db import Database
from claude_code_api.storage.tables import api_keys

log = logging.getLogger(__name__)

KEY_PREFIX = "ccapi_"
DISPLAY_CHARS = 10
_MAX_SECRET_LEN = 128


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """An API key's public description (never the secret)."""

    key_id: str
    project_id: str
    name: str | None
    prefix: str
    rate_limit: int | None
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool
    max_tier: str | None = None  # highest model tier the key may use (None: any)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with ISO timestamps."""
        return {
            "key_id": self.key_id,
            "project_id": self.project_id,
            "name": self.name,
            "prefix": self.prefix,
            "rate_limit": self.rate_limit,
            "max_tier": self.max_tier,
            "created_at": self.created_at.isoformat() + "Z",
            "last_used_at": self.last_used_at.isoformat() + "Z" if self.last_used_at else None,
            "revoked": self.revoked,
        }


def hash_secret(secret: str) -> str:
    """SHA-256 hex digest of a secret (what the table stores)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(row: Any) -> ApiKeyInfo:
    return ApiKeyInfo(
        key_id=row.key_id,
        project_id=row.project_id,
        name=row.name,
        prefix=row.prefix,
        rate_limit=row.rate_limit,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked=bool(row.revoked),
        max_tier=row.max_tier,
    )


_COLUMNS = (
    api_keys.c.key_id,
    api_keys.c.project_id,
    api_keys.c.name,
    api_keys.c.prefix,
    api_keys.c.rate_limit,
    api_keys.c.created_at,
    api_keys.c.last_used_at,
    api_keys.c.revoked,
    api_keys.c.max_tier,
)


class KeyStore:
    """Create, authenticate, revoke and list API keys."""

    def __init__(
        self,
        db: Database,
        *,
        cache_ttl: float = 5.0,
        touch_interval: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.cache_ttl = cache_ttl
        self.touch_interval = touch_interval
        self._clock = clock or utc_now
        self._cache: dict[str, tuple[float, ApiKeyInfo | None]] = {}
        self._touched: dict[str, datetime] = {}  # key_id -> last use not yet written
        self._last_touch_flush = time.monotonic()
        self._flush_task: asyncio.Task[None] | None = None

    async def create(
        self,
        project_id: str,
        name: str | None = None,
        rate_limit: int | None = None,
        *,
        max_tier: str | None = None,
    ) -> tuple[ApiKeyInfo, str]:
        """Make a key for ``project_id`` (created if new); returns its info and the secret.

        ``max_tier`` (``haiku``/``sonnet``/``opus``) caps the models the key may use.
        """
        if max_tier is not None and max_tier not in TIERS:
            raise ValueError(f"max_tier must be one of {', '.join(TIERS)}, got {max_tier!r}")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        now = naive_utc(self._clock())
        info = ApiKeyInfo(
            key_id="key_" + secrets.token_hex(8),
            project_id=project_id,
            name=name,
            prefix=secret[:DISPLAY_CHARS],
            rate_limit=rate_limit,
            created_at=now,
            last_used_at=None,
            revoked=False,
            max_tier=max_tier,
        )
        async with self.db.write() as conn:
            await ensure_projects(conn, [project_id], now)
            await conn.execute(
                api_keys.insert(),
                {
                    "key_id": info.key_id,
                    "key_hash": hash_secret(secret),
                    "prefix": info.prefix,
                    "project_id": project_id,
                    "name": name,
                    "rate_limit": rate_limit,
                    "max_tier": max_tier,
                    "created_at": now,
                    "revoked": False,
                },
            )
        return info, secret

    async def authenticate(self, secret: str) -> ApiKeyInfo | None:
        """The key's info if ``secret`` is a valid, unrevoked key; otherwise ``None``.

        Raises :class:`StorageUnavailableError` if the store cannot be read (the API answers
        503 rather than letting anyone in).
        """
        if not secret.startswith(KEY_PREFIX) or len(secret) > _MAX_SECRET_LEN:
            return None  # not one of ours: no database round trip
        digest = hash_secret(secret)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            info = cached[1]
        else:
            async with self.db.read() as conn:
                row = (
                    await conn.execute(select(*_COLUMNS).where(api_keys.c.key_hash == digest))
                ).first()
            info = _info(row) if row is not None else None
            if len(self._cache) > 10_000:  # bound memory under a flood of distinct keys
                self._cache.clear()
            self._cache[digest] = (now + self.cache_ttl, info)
        if info is None or info.revoked:
            return None
        used = naive_utc(self._clock())
        self._touched[info.key_id] = used
        self._maybe_flush_touches()
        return replace(info, last_used_at=used)

    def _maybe_flush_touches(self) -> None:
        if time.monotonic() - self._last_touch_flush < self.touch_interval:
            return
        if self._flush_task is not None and not self._flush_task.done():
            return
        self._last_touch_flush = time.monotonic()
        self._flush_task = asyncio.get_running_loop().create_task(self._flush_quietly())

    async def _flush_quietly(self) -> None:
        try:
            await self.flush_last_used()
        except Exception as exc:  # a missed last_used_at update is harmless
            log.warning("last_used_at flush failed: %s", type(exc).__name__)

    async def flush_last_used(self) -> int:
        """Write buffered ``last_used_at`` values; returns how many keys were updated."""
        touched, self._touched = self._touched, {}
        if not touched:
            return 0
        try:
            async with self.db.write() as conn:
                await conn.execute(
                    update(api_keys)
                    .where(api_keys.c.key_id == bindparam("kid"))
                    .values(last_used_at=bindparam("used")),
                    [{"kid": kid, "used": used} for kid, used in sorted(touched.items())],
                )
        except Exception:
            for kid, used in touched.items():  # keep them for the next attempt
                self._touched.setdefault(kid, used)
            raise
        return len(touched)

    async def revoke(self, key_id: str) -> ApiKeyInfo:
        """Revoke a key (takes effect here at once, on other replicas within ``cache_ttl``).

        Raises :class:`NotFoundError` for an unknown ``key_id``.
        """
        async with self.db.write() as conn:
            result = await conn.execute(
                update(api_keys)
                .where(api_keys.c.key_id == key_id)
                .values(revoked=True, revoked_at=naive_utc(self._clock()))
                .returning(*_COLUMNS)
            )
            row = result.first()
        if row is None:
            raise NotFoundError(f"No API key with id '{key_id}'.", param="key_id")
        self._cache = {d: v for d, v in self._cache.items() if not v[1] or v[1].key_id != key_id}
        return _info(row)

    async def get(self, key_id: str) -> ApiKeyInfo | None:
        """One key's info by id (revoked keys included)."""
        async with self.db.read() as conn:
            row = (await conn.execute(select(*_COLUMNS).where(api_keys.c.key_id == key_id))).first()
        return _info(row) if row is not None else None

    async def list(self, project_id: str | None = None) -> builtins.list[ApiKeyInfo]:
        """Keys of one project (or all), oldest first, revoked ones included."""
        stmt = select(*_COLUMNS).order_by(api_keys.c.created_at, api_keys.c.key_id)
        if project_id is not None:
            stmt = stmt.where(api_keys.c.project_id == project_id)
        async with self.db.read() as conn:
            return [_info(row) for row in await conn.execute(stmt)]

    async def close(self) -> None:
        """Write pending ``last_used_at`` values (best effort)."""
        if self._flush_task is not None:
            await self._flush_task
        try:
            await self.flush_last_used()
        except Exception:
            log.warning("could not write last_used_at at shutdown")
