"""Table definitions (SQLAlchemy 2 Core metadata; the migrations create exactly these).

Core tables rather than ORM classes: every hot path is a single set-based statement (conditional
UPDATE, multi-row INSERT, upsert), which Core expresses directly.

Times are stored as naive UTC ``DateTime`` (SQLite has no time zone type); the stores convert at
the boundary. Deviations from the seed schema are listed in ``docs/STORAGE.md``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

metadata = MetaData()

#: BIGINT on PostgreSQL, INTEGER on SQLite (only INTEGER PRIMARY KEY autoincrements there).
BigId = BigInteger().with_variant(Integer(), "sqlite")

projects = Table(
    "projects",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("name", String(256)),
    Column("monthly_token_limit", BigInteger),  # NULL: unlimited
    Column("created_at", DateTime, nullable=False),
)

budget_periods = Table(
    "budget_periods",
    metadata,
    Column("project_id", String(128), ForeignKey("projects.id"), primary_key=True),
    Column("period_start", Date, primary_key=True),  # first day of the UTC month
    Column("used_tokens", BigInteger, nullable=False, default=0),
    Column("reserved_tokens", BigInteger, nullable=False, default=0),
)

budget_reservations = Table(
    "budget_reservations",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("project_id", String(128), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("tokens", BigInteger, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Index("ix_budget_reservations_expires_at", "expires_at"),
)

budget_alerts = Table(
    "budget_alerts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", String(128), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("threshold", Integer, nullable=False),  # percent: 50, 80, 100
    Column("used_tokens", BigInteger, nullable=False),
    Column("monthly_limit", BigInteger, nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("project_id", "period_start", "threshold", name="uq_budget_alerts_once"),
)

usage_log = Table(
    "usage_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", String(128), ForeignKey("projects.id"), nullable=False),
    Column("model", String(128), nullable=False),
    Column("tokens", BigInteger, nullable=False),  # input + output + cache tokens
    Column("cost_usd", Float, nullable=False),
    Column("timestamp", DateTime, nullable=False),
    Column("input_tokens", BigInteger, nullable=False, default=0),
    Column("output_tokens", BigInteger, nullable=False, default=0),
    Column("cache_creation_tokens", BigInteger, nullable=False, default=0),
    Column("cache_read_tokens", BigInteger, nullable=False, default=0),
    Column("cached", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False, default="ok"),
    Column("request_id", String(64)),
    Column("key_id", String(40)),
    Column("latency_ms", Integer),
    Index("ix_usage_log_project_ts", "project_id", "timestamp"),
)

#: Per (project, model, UTC hour) totals, updated in the same transaction as each batch insert
#: into ``usage_log``, so a month of usage is read from at most ~744 rows per model.
usage_hourly = Table(
    "usage_hourly",
    metadata,
    Column("project_id", String(128), primary_key=True),
    Column("bucket_start", DateTime, primary_key=True),
    Column("model", String(128), primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("tokens", BigInteger, nullable=False),
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
    Column("cost_usd", Float, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(40), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),  # SHA-256 hex of the secret
    Column("prefix", String(16), nullable=False),  # first characters, for display only
    Column("project_id", String(128), ForeignKey("projects.id"), nullable=False),
    Column("name", String(128)),
    Column("rate_limit", Integer),  # requests per minute; NULL: the service default
    Column("max_tier", String(16)),  # highest model tier the key may use; NULL: any
    Column("created_at", DateTime, nullable=False),
    Column("last_used_at", DateTime),
    Column("revoked", Boolean, nullable=False, default=False),
    Column("revoked_at", DateTime),
    Index("ix_api_keys_project_id", "project_id"),
)
