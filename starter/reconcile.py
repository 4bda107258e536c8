"""Reconciliation: the workflows are the truth, the store a copy. Finds where the copy drifted (a lost
write, a hand edit, a restore from backup), in the case row, its refunds and its seller ledger, and,
asked to, rewrites the case row and refunds from the workflows. Ledger lines are money posted once under
their keys: a drift there is reported, never rewritten by a tool."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from cases.model import SELLER_SIGN, LedgerKind
from cases.money import Money
from cases.view import CaseView
from starter.client import CaseClient
from store.case_writes import REFUND_STATUS, case_row
from store.database import Store
from store.schema import CaseRow, LedgerRow, RefundRow
from workflows.refund_case import workflow_id

# What the store must agree on with the workflow's own view.
COMPARED = ("version", "status", "outcome", "awaiting", "due_at", "refunded", "charged_to_seller", "closed_at")


@dataclass
class Drift:
    case_id: str
    what: str
    repaired: bool = False
    left: str = ""  # what a repair could not rewrite


async def check(client: CaseClient, store: Store, repair: bool = False, closed_since: datetime | None = None) -> tuple[int, list[Drift]]:
    """Compares every running case, every case the store holds open, and those it holds closed since
    `closed_since`, with its workflow. Returns how many cases were compared and the drifts found
    (repaired when `repair`). A closed case whose history the server no longer keeps (past the
    namespace's retention) has nothing to compare with and is left out."""
    running = {row["case_id"] for row in await client.list("ExecutionStatus = 'Running'", limit=1_000_000)}
    with store.sessions() as session:
        open_in_store = set(session.scalars(select(CaseRow.case_id).where(CaseRow.status != "closed")))
        closed = set(session.scalars(select(CaseRow.case_id).where(CaseRow.closed_at >= closed_since))) if closed_since else set()
    drifts, compared = [], 0
    for case_id in sorted(running | open_in_store | closed):
        shown = await _truth(client, case_id, running=case_id in running)
        if shown is None and case_id not in open_in_store:
            continue
        compared += 1
        if shown is None:
            drifts.append(Drift(case_id, "the store holds it open but there is no workflow for it"))
            continue
        what = differences(store, shown)
        if what:
            drift = Drift(case_id, what)
            if repair:
                store.record_case(shown, shown.timeline, force=True)
                drift.left = differences(store, shown)
                drift.repaired = not drift.left
            drifts.append(drift)
    return compared, drifts


async def _truth(client: CaseClient, case_id: str, running: bool) -> CaseView | None:
    if running:
        return await client.show(case_id)
    handle = client.client.get_workflow_handle(workflow_id(case_id), result_type=CaseView)
    try:
        return await handle.result()
    except (WorkflowFailureError, RuntimeError):  # failed, terminated, or no completion to read: no view
        return None
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise


def differences(store: Store, shown: CaseView) -> str:
    """Where the store's copy of a case differs from the workflow's own view; empty when it agrees."""
    row = store.get(CaseRow, shown.case_id)
    if row is None:
        return "missing from the store"
    expected = case_row(shown)
    differ = []
    for name in COMPARED:
        stored, actual = getattr(row, name), getattr(expected, name)
        if stored != actual:
            differ.append(f"{name}: store {stored}, workflow {actual}")
    return "; ".join(differ + _refund_differences(store, shown) + _ledger_difference(store, shown))


def _refund_differences(store: Store, shown: CaseView) -> list[str]:
    """Each refund as finance reads it (`refunds`) against the workflow's."""
    stored = {r.number: f"{Money(amount=r.amount, currency=r.currency)} {r.status}" for r in store.rows(RefundRow, case_id=shown.case_id)}
    actual = {r.number: f"{r.amount} {REFUND_STATUS[r.status]}" for r in shown.refunds}
    return [
        f"refund {number}: store {stored.get(number, 'none')}, workflow {actual.get(number, 'none')}"
        for number in sorted(stored.keys() | actual.keys())
        if stored.get(number) != actual.get(number)
    ]


def _ledger_difference(store: Store, shown: CaseView) -> list[str]:
    """What the seller's ledger lines for the case add up to against what the workflow charged."""
    net = sum(SELLER_SIGN.get(LedgerKind(line.kind), 0) * line.amount for line in store.rows(LedgerRow, case_id=shown.case_id))
    if net == shown.charged_to_seller.amount:
        return []
    return [f"ledger: store charges the seller {Money(amount=net, currency=shown.charged_to_seller.currency)}, workflow {shown.charged_to_seller}"]
