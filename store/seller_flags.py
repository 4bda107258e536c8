"""Sellers' standing: the flags cases raise on a seller left unresolved too long, lifted by support
only, and the order volumes the backends feed for the issue rate."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Connection, bindparam, insert, select, update

from cases.model import Status
from cases.sellers import check_reinstatement
from cases.view import CaseView
from store.engine import Database, table
from store.schema import CaseRow, NotificationRow, OrderVolumeRow, SellerFlagRow

FLAGS, CASES, NOTICES = table(SellerFlagRow), table(CaseRow), table(NotificationRow)
FLAG = select(FLAGS.c.raised_at).where(FLAGS.c.case_id == bindparam("case_id"))
UPDATE_FLAG = update(FLAGS).where(FLAGS.c.case_id == bindparam("case_id_"))
RAISED_ON_SELLER = (
    select(FLAGS.c.case_id, FLAGS.c.raised_at).where(FLAGS.c.seller_id == bindparam("seller_id"), FLAGS.c.lifted_at.is_(None)).with_for_update()
)
CASE_STATUSES = select(CASES.c.case_id, CASES.c.status).where(CASES.c.case_id.in_(bindparam("case_ids", expanding=True)))
LIFT_FLAGS = update(FLAGS).where(FLAGS.c.seller_id == bindparam("seller_id_"), FLAGS.c.lifted_at.is_(None))


class SellerFlags(Database):
    def reinstate_seller(self, seller_id: str, by: str, at: datetime) -> list[str]:
        """Support lifts every flag cases have raised on `seller_id`, once each such case is resolved
        (cases.sellers raises Refusal otherwise, and nothing changes); the seller is told. Returns the
        cases whose flags were lifted."""

        def lift(connection: Connection) -> list[str]:
            raised = connection.execute(RAISED_ON_SELLER, {"seller_id": seller_id}).all()
            statuses = dict(connection.execute(CASE_STATUSES, {"case_ids": [row.case_id for row in raised]}).all())
            check_reinstatement(seller_id, {row.case_id: Status(statuses.get(row.case_id, "closed")) for row in raised})
            cases = sorted(row.case_id for row in raised)
            connection.execute(LIFT_FLAGS, {"seller_id_": seller_id, "lifted_at": at, "lifted_by": by})
            latest = max(raised, key=lambda row: row.raised_at).case_id
            notice = {
                "key": f"{latest}:reinstated:{at.isoformat()}", "case_id": latest, "party": "seller", "recipient_id": seller_id,
                "event": "seller_reinstated", "body": "Support reinstated your account: the restrictions your cases brought are lifted.",
                "created_at": at,
            }  # fmt: skip
            connection.execute(insert(NOTICES), notice)
            return cases

        return self.in_transaction(lift)

    def record_order_volume(self, seller_id: str, day: date, orders: int) -> None:
        """The backends' feed: a seller's orders on a day. Sending a day again replaces its figure."""
        if orders < 0:
            raise ValueError("orders: must not be negative")
        with self.sessions() as session, session.begin():
            session.merge(OrderVolumeRow(seller_id=seller_id, day=day, orders=orders))


def raise_flag(connection: Connection, view: CaseView) -> None:
    """Raises the case's flag on its seller when the case flagged it (again, for a reopened case that
    flagged it later). Nothing here lifts a flag: support does (Store.reinstate_seller)."""
    flagged_at = view.seller_flagged_at
    if flagged_at is None:
        return
    flag = connection.execute(FLAG, {"case_id": view.case_id}).first()
    raised = {"case_id": view.case_id, "seller_id": view.seller_id, "raised_at": flagged_at, "lifted_at": None, "lifted_by": None}
    if flag is None:
        connection.execute(insert(FLAGS), raised)
    elif flagged_at > flag.raised_at:
        connection.execute(UPDATE_FLAG, {**raised, "case_id_": view.case_id})
