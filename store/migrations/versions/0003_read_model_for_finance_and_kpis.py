"""Finance and KPIs: refunds as the cases see them (the embedded gateway's own table becomes
`gateway_refunds`), ledger entries know their order and whether a charge is recovered from the next
payout, payout holds and payouts, the order-volume feed, and the indexes of the seller portal.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.rename_table("refunds", "gateway_refunds")
    with op.batch_alter_table("gateway_refunds") as table:
        table.drop_index("ix_refunds_case_id")
        table.create_index("ix_gateway_refunds_case_id", ["case_id"])
    op.create_table(
        "refunds",
        sa.Column("idempotency_key", sa.String(128), primary_key=True),
        sa.Column("case_id", sa.String(64), nullable=False, index=True),
        sa.Column("order_id", sa.String(64), nullable=False, index=True),
        sa.Column("seller_id", sa.String(64), nullable=False, index=True),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    with op.batch_alter_table("ledger_entries") as table:
        table.add_column(sa.Column("order_id", sa.String(64)))
        table.add_column(sa.Column("settled_by", sa.String(16), nullable=False, server_default="seller_balance"))
        table.create_index("ix_ledger_entries_order_id", ["order_id"])
    op.create_table(
        "payout_holds",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("seller_id", sa.String(64), nullable=False, index=True),
        sa.Column("held_at", TZ, nullable=False),
        sa.Column("released_at", TZ),
    )
    # Orders with open cases in a store that had no holds yet are held from their first open case.
    op.execute(
        "INSERT INTO payout_holds (order_id, seller_id, held_at, released_at)"
        " SELECT order_id, MIN(seller_id), MIN(opened_at), NULL FROM cases WHERE status <> 'closed' GROUP BY order_id"
    )
    op.create_table(
        "payouts",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("seller_id", sa.String(64), nullable=False, index=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("paid_out_at", TZ, nullable=False),
    )
    op.create_table(
        "order_volumes",
        sa.Column("seller_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("orders", sa.Integer, nullable=False),
    )
    op.create_index("ix_cases_seller_queue", "cases", ["seller_id", "awaiting", "due_at", "case_id"])
    op.create_index("ix_cases_buyer_opened", "cases", ["buyer_id", "opened_at"])
    op.create_index("ix_cases_opened", "cases", ["opened_at"])


def downgrade() -> None:
    for index in ("ix_cases_opened", "ix_cases_buyer_opened", "ix_cases_seller_queue"):
        op.drop_index(index, "cases")
    for table in ("order_volumes", "payouts", "payout_holds", "refunds"):
        op.drop_table(table)
    with op.batch_alter_table("ledger_entries") as table:
        table.drop_index("ix_ledger_entries_order_id")
        table.drop_column("settled_by")
        table.drop_column("order_id")
    with op.batch_alter_table("gateway_refunds") as table:
        table.drop_index("ix_gateway_refunds_case_id")
        table.create_index("ix_refunds_case_id", ["case_id"])
    op.rename_table("gateway_refunds", "refunds")
