"""The read model and the money trail. Every table is keyed so a retried write adds nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import JSON, BigInteger, Date, DateTime, Index, Integer, String, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class UTCDateTime(TypeDecorator):
    """A moment, stored and read back in UTC on every database: SQLite keeps no time zone, so without
    this its values would come back naive."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None and value.tzinfo is not None else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class CaseRow(Base):
    """The current view of a case. `version` only moves forward, so an older write never wins."""

    __tablename__ = "cases"
    __table_args__ = (
        # A seller's portal: the cases waiting on them, soonest due first, paged by (due_at, case_id).
        Index("ix_cases_seller_queue", "seller_id", "awaiting", "due_at", "case_id"),
        Index("ix_cases_buyer_opened", "buyer_id", "opened_at"),
        # The KPI report reads only these columns of a period's cases, and only these of the overdue:
        # both are answered from the index alone (bench/store_bench.py, a million cases on PostgreSQL:
        # the report's median from 0.78 s to 0.28 s).
        Index("ix_cases_kpi", "opened_at", "closed_at", "reason", "seller_id"),
        Index("ix_cases_overdue", "awaiting", "due_at", "seller_id"),
    )
    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    policy: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(40), index=True)
    outcome: Mapped[str | None] = mapped_column(String(40))
    awaiting: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    buyer_id: Mapped[str] = mapped_column(String(64), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    total_paid: Mapped[int] = mapped_column(BigInteger)
    refunded: Mapped[int] = mapped_column(BigInteger)
    charged_to_seller: Mapped[int] = mapped_column(BigInteger)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TimelineRow(Base):
    __tablename__ = "timeline"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text)
    refused: Mapped[bool]


class RefundRow(Base):
    """One refund of a case as finance reads it: requested, then succeeded or failed."""

    __tablename__ = "refunds"
    idempotency_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    number: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GatewayRefundRow(Base):
    """One refund at the embedded gateway; the idempotency key is the whole guarantee."""

    __tablename__ = "gateway_refunds"
    idempotency_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    number: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    gateway_ref: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrderBudgetRow(Base):
    """What all cases on one order have taken from it: a refund reserves its amount here before it
    reaches the gateway, so several cases on one order never refund more than was paid."""

    __tablename__ = "order_budgets"
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    paid: Mapped[int] = mapped_column(BigInteger)
    reserved: Mapped[int] = mapped_column(BigInteger)


class RefundReservationRow(Base):
    """One refund's share of its order; released (given back) when the refund fails."""

    __tablename__ = "refund_reservations"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    released: Mapped[bool] = mapped_column(default=False)


class LedgerRow(Base):
    __tablename__ = "ledger_entries"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    refund_number: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # Where a seller charge is taken from: the seller's balance, or, when the order was already paid
    # out, a recovery from the seller's next payout.
    settled_by: Mapped[str] = mapped_column(String(16), default="seller_balance", server_default="seller_balance")


class PayoutHoldRow(Base):
    """An order's payout is held while any case on it is open, and released when the last one closes."""

    __tablename__ = "payout_holds"
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    held_at: Mapped[datetime] = mapped_column(UTCDateTime)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RegisteredOrderRow(Base):
    """An order as the marketplace's order system registered it (cases.orders.RegisteredOrder): the
    only source of a case's parties, lines and amounts through the HTTP API."""

    __tablename__ = "registered_orders"
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    buyer_id: Mapped[str] = mapped_column(String(64), index=True)
    registration: Mapped[dict] = mapped_column(JSON)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PayoutRow(Base):
    """An order paid out to its seller; later seller charges on it are recovered from the next payout."""

    __tablename__ = "payouts"
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    paid_out_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrderVolumeRow(Base):
    """Orders per seller per day, pushed by backends: the denominator of issue rates."""

    __tablename__ = "order_volumes"
    __table_args__ = (Index("ix_order_volumes_day", "day", "seller_id", "orders"),)
    seller_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    orders: Mapped[int] = mapped_column(Integer)


class SellerFlagRow(Base):
    """A seller flagged by one case left unresolved too long: sellers with a flag not lifted may be
    restricted by the marketplace. Resolving the case does not lift it; support does, reinstating the
    seller (seed 001). `raised_at` is when the case flagged the seller (a reopened case may again)."""

    __tablename__ = "seller_flags"
    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[str | None] = mapped_column(String(80))


class ClosedCaseRow(Base):
    """A closed case's whole state: its workflow has ended, and a reopening, at any later time, starts
    it again from here (starter.client)."""

    __tablename__ = "closed_cases"
    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[dict] = mapped_column(JSON)


class NotificationRow(Base):
    """The outbox: a delivery service reads it; the worker also logs each batch it writes."""

    __tablename__ = "notifications"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    party: Mapped[str] = mapped_column(String(16))
    recipient_id: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SupportTicketRow(Base):
    __tablename__ = "support_tickets"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ApiIdempotencyRow(Base):
    """An HTTP call made with an Idempotency-Key: a replay gets the first answer; the same key with
    another body is a conflict."""

    __tablename__ = "api_idempotency"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # caller's token name + its key
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookSubscriptionRow(Base):
    """A subscriber's URL and the case events it wants, with the secret its deliveries are signed with."""

    __tablename__ = "webhook_subscriptions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(128))
    seller_ids: Mapped[list | None] = mapped_column(JSON, nullable=True)  # None: every seller's cases
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(default=True)


class WebhookDeliveryRow(Base):
    """One event for one subscriber: written with the case row that caused it (an outbox), then
    delivered by a WebhookDelivery workflow, which records how it went."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # case:version:event:subscription
    subscription_id: Mapped[str] = mapped_column(String(64), index=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    event: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, given_up
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its delivery workflow was started
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UnitHoldRow(Base):
    """The units of one order line a case concerns: two cases of one order never hold the same unit
    (cases.lines.check_units_free). A case withdrawn or ineligible gives its units back."""

    __tablename__ = "unit_holds"
    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    released: Mapped[bool] = mapped_column(default=False)


class EvidenceFileRow(Base):
    """One file in the evidence store, by the SHA-256 of its content: what it is, as read from its bytes."""

    __tablename__ = "evidence_files"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EvidenceUploadRow(Base):
    """Who uploaded a file: only its uploader may attach it to a case (an id seen elsewhere attaches nothing)."""

    __tablename__ = "evidence_uploads"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    uploader: Mapped[str] = mapped_column(String(120), primary_key=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
