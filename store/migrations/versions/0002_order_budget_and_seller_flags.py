"""Several cases on one order share what was paid (order budgets, refund reservations); sellers of cases
unresolved too long are flagged. Stores that `create_all` already gave these tables keep them.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "order_budgets" not in existing:
        op.create_table(
            "order_budgets",
            sa.Column("order_id", sa.String(64), primary_key=True),
            sa.Column("currency", sa.String(3), nullable=False),
            sa.Column("paid", sa.BigInteger, nullable=False),
            sa.Column("reserved", sa.BigInteger, nullable=False),
        )
    if "refund_reservations" not in existing:
        op.create_table(
            "refund_reservations",
            sa.Column("key", sa.String(128), primary_key=True),
            sa.Column("order_id", sa.String(64), nullable=False, index=True),
            sa.Column("case_id", sa.String(64), nullable=False, index=True),
            sa.Column("amount", sa.BigInteger, nullable=False),
            sa.Column("released", sa.Boolean, nullable=False),
        )
    if "seller_flags" not in existing:
        op.create_table(
            "seller_flags",
            sa.Column("case_id", sa.String(64), primary_key=True),
            sa.Column("seller_id", sa.String(64), nullable=False, index=True),
            sa.Column("raised_at", TZ, nullable=False),
            sa.Column("lifted_at", TZ),
        )


def downgrade() -> None:
    for table in ("seller_flags", "refund_reservations", "order_budgets"):
        op.drop_table(table)
