"""API keys may be capped at a model tier (``api_keys.max_tier``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable ``max_tier`` column (NULL: the key may use any model)."""
    op.add_column("api_keys", sa.Column("max_tier", sa.String(16)))


def downgrade() -> None:
    """Drop it again (batch mode: SQLite cannot drop a column in place on old versions)."""
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("max_tier")
