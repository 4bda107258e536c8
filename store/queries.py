"""What people read from the store: a seller's queue, an order with its payout state, a buyer's cases,
the marketplace's KPIs, and a buyer's refund behaviour. The same SQL on SQLite and PostgreSQL, but for the seconds between two
times, which each database spells its own way."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Float, and_, case, cast, func, select, tuple_
from sqlalchemy.orm import Session

from cases.abuse import BuyerRecord
from store.case_writes import REFUND_STATUS
from store.database import Store
from store.schema import CaseRow, OrderVolumeRow, PayoutHoldRow, PayoutRow, RefundRow, RegisteredOrderRow, SellerFlagRow, TimelineRow

ISSUE_RATE_LIMIT = 0.05  # seed 002: a brand above 5 % loses ranking and visibility


@dataclass
class Page:
    cases: list[CaseRow]
    next_after: tuple[datetime, str] | None  # pass back as `after` for the next page


def seller_queue(
    store: Store,
    seller_id: str,
    *,
    status: str | None = None,
    reason: str | None = None,
    policy: str | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> Page:
    """The cases waiting on a seller, soonest due first, a page at a time (keyset on due time and id,
    so a page costs the same however deep it is)."""
    query = select(CaseRow).where(CaseRow.seller_id == seller_id, CaseRow.awaiting == "seller")
    for column, value in ((CaseRow.status, status), (CaseRow.reason, reason), (CaseRow.policy, policy)):
        if value is not None:
            query = query.where(column == value)
    if after is not None:
        query = query.where(tuple_(CaseRow.due_at, CaseRow.case_id) > tuple_(*after))
    query = query.order_by(CaseRow.due_at, CaseRow.case_id).limit(limit)
    with store.sessions() as session:
        rows = list(session.scalars(query))
    last = rows[-1] if len(rows) == limit else None
    return Page(rows, (last.due_at, last.case_id) if last and last.due_at else None)


@dataclass
class OrderState:
    order_id: str
    cases: list[CaseRow]
    hold: PayoutHoldRow | None
    payout: PayoutRow | None

    @property
    def payout_state(self) -> str:
        if self.payout is not None:
            return "paid out"
        if self.hold is not None and self.hold.released_at is None:
            return "held"
        return "payable"


def order_state(store: Store, order_id: str) -> OrderState:
    with store.sessions() as session:
        cases = list(session.scalars(select(CaseRow).where(CaseRow.order_id == order_id).order_by(CaseRow.opened_at)))
        return OrderState(order_id, cases, session.get(PayoutHoldRow, order_id), session.get(PayoutRow, order_id))


def payout_holds(store: Store, seller_id: str | None = None, limit: int = 100) -> list[PayoutHoldRow]:
    """Orders whose payout is held now, the oldest hold first."""
    query = select(PayoutHoldRow).where(PayoutHoldRow.released_at.is_(None))
    if seller_id is not None:
        query = query.where(PayoutHoldRow.seller_id == seller_id)
    with store.sessions() as session:
        return list(session.scalars(query.order_by(PayoutHoldRow.held_at, PayoutHoldRow.order_id).limit(limit)))


def flagged_sellers(store: Store) -> list[tuple[str, int, datetime]]:
    """Sellers flagged by cases, until support reinstates them: by how many cases, and since when."""
    query = (
        select(SellerFlagRow.seller_id, func.count(), func.min(SellerFlagRow.raised_at))
        .where(SellerFlagRow.lifted_at.is_(None))
        .group_by(SellerFlagRow.seller_id)
        .order_by(SellerFlagRow.seller_id)
    )
    with store.sessions() as session:
        return [(seller, count, since) for seller, count, since in session.execute(query)]


def buyer_record(store: Store, buyer_id: str, order_id: str, since: datetime) -> BuyerRecord:
    """A buyer's refund behaviour since `since`, across every seller, for the abuse rules (cases.abuse):
    refund requests opened, money refunded (not failed), orders registered and those with a refund
    request, counting `order_id`, whose case is about to open. A protection, opened at checkout on every
    order that has one, is no request."""
    with Session(store.engine) as session:
        refund_requests = (CaseRow.buyer_id == buyer_id, CaseRow.kind == "refund_request", CaseRow.opened_at >= since)
        requests = session.scalar(select(func.count()).where(*refund_requests))
        refunded = session.execute(
            select(RefundRow.currency, func.sum(RefundRow.amount))
            .join(CaseRow, CaseRow.case_id == RefundRow.case_id)
            .where(CaseRow.buyer_id == buyer_id, RefundRow.status != REFUND_STATUS["failed"], RefundRow.updated_at >= since)
            .group_by(RefundRow.currency)
        ).all()
        orders = session.scalar(select(func.count()).where(RegisteredOrderRow.buyer_id == buyer_id, RegisteredOrderRow.registered_at >= since))
        with_cases = set(session.scalars(select(CaseRow.order_id).where(*refund_requests).distinct()))
    return BuyerRecord(
        requests=requests or 0,
        refunded={currency: int(total) for currency, total in refunded},
        orders=orders or 0,
        orders_with_cases=len(with_cases | {order_id}),
    )


def buyer_cases(store: Store, buyer_id: str, limit: int = 50) -> list[CaseRow]:
    query = select(CaseRow).where(CaseRow.buyer_id == buyer_id).order_by(CaseRow.opened_at.desc(), CaseRow.case_id).limit(limit)
    with store.sessions() as session:
        return list(session.scalars(query))


@dataclass
class SellerRate:
    seller_id: str
    cases: int
    orders: int

    @property
    def rate(self) -> float | None:
        """Cases per order; None while the seller's backend has reported no orders for the period."""
        return self.cases / self.orders if self.orders else None

    @property
    def over_limit(self) -> bool:
        return self.rate is not None and self.rate > ISSUE_RATE_LIMIT


@dataclass
class Report:
    since: datetime
    until: datetime
    opened: int
    resolved: int
    average_hours: float | None
    p90_hours: float | None
    reasons: dict[str, int]
    issue_rates: list[SellerRate]
    overdue: dict[str, int] = field(default_factory=dict)  # seller -> open cases past their deadline
    reviewed: int = 0  # requests the platform sent to support for its refund review (fraud flag or abuse rules)

    @property
    def resolution_rate(self) -> float | None:
        return self.resolved / self.opened if self.opened else None

    @property
    def sellers_over_limit(self) -> list[SellerRate]:
        return [rate for rate in self.issue_rates if rate.over_limit]

    def as_dict(self) -> dict:
        """The report as JSON data (the CLI's --json and the HTTP API)."""
        rates = [
            {"seller_id": r.seller_id, "cases": r.cases, "orders": r.orders, "rate": r.rate, "over_5_percent": r.over_limit} for r in self.issue_rates
        ]
        return {
            "since": self.since, "until": self.until, "opened": self.opened, "resolved": self.resolved,
            "resolution_rate": self.resolution_rate, "average_hours": self.average_hours, "p90_hours": self.p90_hours,
            "reasons": self.reasons, "issue_rates": rates, "overdue_sellers": self.overdue,
            "reviewed_for_refund_abuse": self.reviewed,
        }  # fmt: skip


def report(store: Store, since: datetime, until: datetime, now: datetime) -> Report:
    """KPIs of the cases opened in [since, until): how many were resolved and how fast (average and
    p90, nearest rank), their reasons, each seller's issue rate against the order-volume feed (cases
    per order, over 5 % flagged), and, as of `now`, the sellers with open cases past their deadline."""
    window = and_(CaseRow.opened_at >= since, CaseRow.opened_at < until)
    with store.sessions() as session:
        seconds = _seconds(session, CaseRow.opened_at, CaseRow.closed_at)
        opened, resolved, average = session.execute(
            select(func.count(), func.count(CaseRow.closed_at), func.avg(case((CaseRow.closed_at.is_not(None), seconds)))).where(window)
        ).one()
        p90 = _p90(session, seconds, and_(window, CaseRow.closed_at.is_not(None)), resolved)
        reasons = dict(session.execute(select(CaseRow.reason, func.count()).where(window).group_by(CaseRow.reason)).all())
        cases_by_seller = dict(session.execute(select(CaseRow.seller_id, func.count()).where(window).group_by(CaseRow.seller_id)).all())
        last_day = (until - timedelta(microseconds=1)).date()  # the days the window touches
        volumes = select(OrderVolumeRow.seller_id, func.sum(OrderVolumeRow.orders)).where(
            OrderVolumeRow.day >= since.date(), OrderVolumeRow.day <= last_day
        )
        orders_by_seller = dict(session.execute(volumes.group_by(OrderVolumeRow.seller_id)).all())
        reviewed = session.scalar(
            select(func.count()).select_from(TimelineRow).join(CaseRow, CaseRow.case_id == TimelineRow.case_id)
            .where(window, TimelineRow.kind == "refund_review")
        )  # fmt: skip
        overdue = dict(
            session.execute(
                select(CaseRow.seller_id, func.count())
                .where(CaseRow.awaiting == "seller", CaseRow.due_at < now)
                .group_by(CaseRow.seller_id)
                .order_by(func.count().desc(), CaseRow.seller_id)
            ).all()
        )
    rates = [SellerRate(seller, count, int(orders_by_seller.get(seller, 0))) for seller, count in cases_by_seller.items()]
    rates.sort(key=lambda r: (r.rate is None, -(r.rate or 0), r.seller_id))
    hours = lambda s: None if s is None else float(s) / 3600  # noqa: E731
    return Report(since, until, opened, resolved, hours(average), hours(p90), reasons, rates, overdue, reviewed or 0)


def _seconds(session: Session, start, end):
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _p90(session: Session, seconds, where, count: int):
    """The 90th percentile by nearest rank: the value at rank ceil(0.9 n)."""
    if not count:
        return None
    if session.get_bind().dialect.name == "postgresql":
        return session.scalar(select(func.percentile_disc(0.9).within_group(cast(seconds, Float))).where(where))
    rank = math.ceil(0.9 * count)
    return session.scalar(select(seconds).where(where).order_by(seconds).offset(rank - 1).limit(1))
