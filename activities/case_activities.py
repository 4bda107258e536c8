"""Side effects of a case. Each is idempotent on a key made from the case id and a sequence number
(never the run id), so a retry, a replay or a continue-as-new never does a thing twice."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.payments import GatewayReceipt, GatewayRejection, PaymentGateway
from cases.commands import IssueRefund, Notify, OpenSupportTicket, PostLedgerEntry
from cases.money import Money
from store.case_writes import CaseRecord
from store.database import CaseAlreadyRan, Store
from store.schema import LedgerRow, NotificationRow, SupportTicketRow

log = logging.getLogger("refund_cases.activities")

# The error type of a refund the provider rejected for good; the workflow hands the case to support.
REFUND_REJECTED = "RefundRejected"
CASE_ALREADY_RAN = "CaseAlreadyRan"


class RefundOrder(BaseModel):
    case_id: str
    refund: IssueRefund
    order_id: str
    order_paid: Money

    @property
    def idempotency_key(self) -> str:
        return f"{self.case_id}:refund:{self.refund.number}"

    @property
    def log_context(self) -> dict:
        return {"case_id": self.case_id}


class LedgerPosting(BaseModel):
    case_id: str
    seller_id: str
    posting: PostLedgerEntry
    order_id: str


class TicketRequest(BaseModel):
    case_id: str
    at_version: int
    ticket: OpenSupportTicket
    waiting_for: str


class Effects(BaseModel):
    """Everything a transition (and the gateway's answer fed back into it) leaves behind besides the
    refund: one activity, because they are all store writes, idempotent on their own keys, and none
    needs retrying apart from the others."""

    case_id: str
    postings: list[LedgerPosting] = []
    tickets: list[TicketRequest] = []
    notices: list[Notify] = []
    record: CaseRecord  # the state after the refunds' answers

    def summary(self) -> str:
        """How the step reads in the UI's event history."""
        parts = [f"ledger {p.posting.entry.value} {p.posting.amount}" for p in self.postings]
        parts += ["support ticket"] * len(self.tickets)
        if self.notices:
            parts.append(f"notify {', '.join(sorted({n.to.value for n in self.notices}))}")
        parts.append(f"record {self.record.view.status.value}")
        return "; ".join(parts)


class CaseActivities:
    def __init__(self, store: Store, gateway: PaymentGateway, dispatch_webhooks: Callable[[str], None] | None = None):
        """`dispatch_webhooks(case_id)` starts the deliveries a recorded transition owes its subscribers."""
        self.store = store
        self.gateway = gateway
        self.dispatch_webhooks = dispatch_webhooks

    @activity.defn
    def issue_refund(self, order: RefundOrder) -> GatewayReceipt:
        """Reserves the refund's share of the order, then refunds; both are idempotent on the key. A
        transient gateway error propagates, so Temporal retries it with the same key."""
        refund = order.refund
        others = self.store.reserve_refund(order.idempotency_key, order.case_id, order.order_id, order.order_paid, refund.amount)
        if others is not None:
            log.info("refund %s %s refused: other cases on the order took %s", order.idempotency_key, refund.amount, others, extra=order.log_context)
            return GatewayReceipt(status="refused", other_cases_refunded=others)
        try:
            receipt = self.gateway.refund(order.idempotency_key, order.case_id, refund.number, refund.amount)
        except GatewayRejection as rejection:
            log.info("refund %s %s rejected by the provider: %s", order.idempotency_key, refund.amount, rejection, extra=order.log_context)
            raise ApplicationError(str(rejection), type=REFUND_REJECTED, non_retryable=True) from None
        log.info("refund %s %s %s first_call=%s", order.idempotency_key, refund.amount, receipt.status, receipt.first_call, extra=order.log_context)
        return receipt

    @activity.defn
    def apply_effects(self, effects: Effects) -> None:
        """One transaction: postings, tickets, notices, then the read model. Rows are stamped with the
        case's time of the transition, so a time-skipping test reads when each was made."""
        at = effects.record.at
        postings, tickets = [_ledger_row(p, at) for p in effects.postings], [_ticket_row(t, at) for t in effects.tickets]
        rows = [*postings, *tickets, *_notice_rows(effects.case_id, effects.notices, at)]
        try:
            written = self.store.write_effects(rows, effects.record)
        except CaseAlreadyRan as again:  # fails the second run's opening, and so the run, with nothing written
            raise ApplicationError(str(again), type=CASE_ALREADY_RAN, non_retryable=True) from None
        _log_notices(effects.case_id, [row for row in written.inserted if isinstance(row, NotificationRow)])
        # Deliveries to start: those this write owes, or, on a retry, any the first try left unstarted.
        if self.dispatch_webhooks is not None and (written.deliveries or not written.recorded):
            self.dispatch_webhooks(effects.case_id)

    def all(self) -> list:
        return [self.issue_refund, self.apply_effects]


def _ledger_row(entry: LedgerPosting, at: datetime) -> LedgerRow:
    posting = entry.posting
    return LedgerRow(
        key=f"{entry.case_id}:ledger:{posting.number}",
        case_id=entry.case_id,
        seller_id=entry.seller_id,
        kind=posting.entry.value,
        amount=posting.amount.amount,
        currency=posting.amount.currency,
        refund_number=posting.refund_number,
        created_at=at,
        order_id=entry.order_id,
    )


def _notice_rows(case_id: str, notices: list[Notify], at: datetime) -> list[NotificationRow]:
    return [
        NotificationRow(
            key=f"{case_id}:notice:{notice.number}",
            case_id=case_id,
            party=notice.to.value,
            recipient_id=notice.recipient_id,
            event=notice.event,
            body=notice.text,
            created_at=at,
        )
        for notice in notices
    ]


def _ticket_row(request: TicketRequest, at: datetime) -> SupportTicketRow:
    return SupportTicketRow(
        key=f"{request.case_id}:ticket:v{request.at_version}",
        case_id=request.case_id,
        reason=request.ticket.reason,
        details={
            "waiting_for": request.waiting_for,
            "evidence": [item.model_dump(mode="json", exclude={"caption"}) for item in request.ticket.evidence],
        },
        created_at=at,
    )


def _log_notices(case_id: str, sent: list[NotificationRow]) -> None:
    """One line per batch of notices written for the first time (a retry writes and logs none)."""
    if sent:
        log.info("notify case=%s %s", case_id, ", ".join(f"{row.party}:{row.recipient_id} {row.event}" for row in sent), extra={"case_id": case_id})
