"""What the core asks the world to do. The workflow runs each as an idempotent activity."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from cases.evidence import Evidence
from cases.model import LedgerKind, Party
from cases.money import Money


class IssueRefund(BaseModel):
    kind: Literal["issue_refund"] = "issue_refund"
    number: int
    amount: Money


class PostLedgerEntry(BaseModel):
    kind: Literal["ledger_entry"] = "ledger_entry"
    number: int
    entry: LedgerKind
    amount: Money
    refund_number: int | None = None


class Notify(BaseModel):
    kind: Literal["notify"] = "notify"
    number: int
    to: Party
    recipient_id: str
    event: str
    text: str


class OpenSupportTicket(BaseModel):
    kind: Literal["support_ticket"] = "support_ticket"
    reason: str
    evidence: list[Evidence] = []  # both sides' files so far, by reference


Command = IssueRefund | PostLedgerEntry | Notify | OpenSupportTicket
