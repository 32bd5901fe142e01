"""API key store: generation, hashed storage, lookup, revocation, lazy last_used_at."""

from __future__ import annotations

import hashlib
from datetime import datetime

import pytest
from sqlalchemy import inspect, text

from claude_code_api.errors import NotFoundError
from claude_code_api.storage import KEY_PREFIX, Database, KeyStore
from tests.storage.conftest import FakeClock


async def test_create_and_authenticate(db: Database, project: str, clock: FakeClock) -> None:
    store = KeyStore(db, clock=clock)
    info, secret = await store.create(project, name="ci", rate_limit=30)
    assert secret.startswith(KEY_PREFIX) and len(secret) >= 40
    assert info.prefix == secret[:10] and info.key_id.startswith("key_")
    assert (info.project_id, info.name, info.rate_limit, info.revoked) == (project, "ci", 30, False)
    found = await store.authenticate(secret)
    assert found is not None
    assert (found.key_id, found.project_id, found.rate_limit) == (info.key_id, project, 30)
    assert found.last_used_at == clock.now
    assert await store.authenticate(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert await store.authenticate("sk-not-ours") is None
    assert await store.authenticate(KEY_PREFIX + "x" * 500) is None
    other_info, other_secret = await store.create(project)
    assert other_secret != secret and other_info.key_id != info.key_id


async def test_revoked_key_is_rejected_everywhere(db: Database, project: str) -> None:
    store = KeyStore(db, cache_ttl=60)
    replica = KeyStore(db, cache_ttl=0)  # another process, its cache already expired
    info, secret = await store.create(project)
    assert await store.authenticate(secret) is not None  # now cached for 60 s
    assert await replica.authenticate(secret) is not None
    revoked = await store.revoke(info.key_id)
    assert revoked.revoked is True
    assert await store.authenticate(secret) is None  # local cache invalidated at once
    assert await replica.authenticate(secret) is None
    assert (await store.get(info.key_id)).revoked is True  # type: ignore[union-attr]
    with pytest.raises(NotFoundError):
        await store.revoke("key_doesnotexist")
    assert await store.get("key_doesnotexist") is None


async def test_list_per_project(db: Database, project: str) -> None:
    store = KeyStore(db)
    a, _ = await store.create(project, name="a")
    b, _ = await store.create(project, name="b")
    c, _ = await store.create(project + "-other", name="c")
    await store.revoke(b.key_id)
    mine = await store.list(project)
    assert [(k.key_id, k.revoked) for k in mine] == [(a.key_id, False), (b.key_id, True)]
    everyone = {k.key_id for k in await store.list()}
    assert {a.key_id, b.key_id, c.key_id} <= everyone
    assert mine[0].to_dict()["created_at"].endswith("Z")


async def test_key_is_not_recoverable_from_the_database(db: Database, project: str) -> None:
    store = KeyStore(db)
    info, secret = await store.create(project, name="secret-holder")
    await store.authenticate(secret)
    await store.close()
    body = secret[len(KEY_PREFIX) :]
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        dumped: list[str] = []
        for name in tables:
            columns = {
                c["name"] for c in await conn.run_sync(lambda c, n=name: inspect(c).get_columns(n))
            }
            # The PostgreSQL database is shared by the session: scan this test's rows only.
            where = (
                " WHERE project_id = :p"
                if "project_id" in columns
                else " WHERE id = :p"
                if name == "projects"
                else ""
            )
            rows = (await conn.execute(text(f"SELECT * FROM {name}{where}"), {"p": project})).all()
            dumped.extend(str(value) for row in rows for value in row)
    assert not any(secret in v or body in v or body[10:30] in v for v in dumped)
    # What is stored is the SHA-256 digest, and only the short display prefix.
    assert hashlib.sha256(secret.encode()).hexdigest() in dumped
    assert info.prefix in dumped and len(info.prefix) == 10


async def test_last_used_at_is_written_lazily(db: Database, project: str, clock: FakeClock) -> None:
    store = KeyStore(db, touch_interval=3600, clock=clock)
    info, secret = await store.create(project)
    for _ in range(50):
        assert await store.authenticate(secret) is not None
    assert (await store.get(info.key_id)).last_used_at is None  # type: ignore[union-attr]
    assert await store.flush_last_used() == 1
    assert await store.flush_last_used() == 0
    stored = await store.get(info.key_id)
    assert stored is not None and stored.last_used_at == clock.now
    clock.now = datetime(2025, 3, 15)
    await store.authenticate(secret)
    await store.close()  # shutdown writes what is pending
    assert (await store.get(info.key_id)).last_used_at == datetime(2025, 3, 15)  # type: ignore[union-attr]


async def test_last_used_at_flushes_periodically(db: Database, project: str) -> None:
    store = KeyStore(db, touch_interval=0)  # every authentication may schedule a flush
    info, secret = await store.create(project)
    await store.authenticate(secret)
    await store.close()  # waits for the scheduled flush
    stored = await store.get(info.key_id)
    assert stored is not None and stored.last_used_at is not None


async def test_a_key_can_be_capped_at_a_model_tier(db: Database, project: str) -> None:
    store = KeyStore(db)
    info, secret = await store.create(project, name="intern", max_tier="haiku")
    assert info.max_tier == "haiku" and info.to_dict()["max_tier"] == "haiku"
    found = await store.authenticate(secret)
    assert found is not None and found.max_tier == "haiku"
    _, uncapped = await store.create(project)
    assert (await store.authenticate(uncapped)).max_tier is None  # type: ignore[union-attr]
    assert [k.max_tier for k in await store.list(project)] == ["haiku", None]
    with pytest.raises(ValueError, match="max_tier must be one of"):
        await store.create(project, max_tier="gpt")
