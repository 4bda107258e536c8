"""What reaches a case: people's decisions, machine facts, and the clock.

Each message is one typed input (the same model backs the Update and the Signal of the same name).
`by` says who sends it; the core checks that party and id against the case.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cases.case import Case
from cases.evidence import MAX_ATTACHMENTS, Attachment
from cases.model import MAX_ITEMS, Actor, CaseKind, CaseLine, Moment, OpaqueId, Order, Party, Reason, Resolution, Status
from cases.money import Money
from cases.policy import Policy
from cases.strict import Strict

Note = Annotated[str, Field(max_length=2000)]
REQUEST_ID_LENGTH = 128
RequestId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=REQUEST_ID_LENGTH,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="The sender's id for this command: sent again with the same id, it acts once.",
    ),
]
Tracking = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{4,40}$", description="Carrier tracking number.")]


class OpenCase(Strict):
    """The workflow input. The policy travels with it: the case keeps the rules it opened with."""

    model_config = ConfigDict(hide_input_in_errors=True)

    case_id: OpaqueId
    request_id: str = Field(min_length=1, max_length=REQUEST_ID_LENGTH)
    kind: CaseKind = CaseKind.REFUND_REQUEST
    reason: Reason
    order: Order
    lines: list[CaseLine] | None = Field(
        default=None, max_length=MAX_ITEMS, description="The order lines concerned; every unit of the order when None."
    )
    buyer_flagged_for_fraud: bool = False
    abuse_suspected: str | None = Field(
        default=None,
        max_length=300,
        description="Why the platform's review of the buyer's refund behaviour sends this request to support (cases.abuse).",
    )
    note: Note | None = None
    evidence: list[Attachment] = Field(default=[], max_length=MAX_ATTACHMENTS, description="The buyer's files given with the request.")
    policy: Policy
    requested_at: Moment | None = Field(default=None, description="When the client checked the request; see engine.opening_time.")
    continued: Case | None = Field(default=None, description="Set by continue-as-new, and by a reopening: the state carried over.")
    reopening: Reopening | None = Field(default=None, description="A closed case started again (starter.client) to take this reopening first.")
    continue_after_events: int = Field(default=10_000, ge=100, description="Operational: continue as new once the history passes this many events.")


class Sent(Strict):
    """What every message from outside carries: who sends it, and the sender's request id, so that a
    retried command (a lost answer, a webhook delivered twice) acts once. Errors name the field and
    the rule but never echo the input: the SDK logs a signal that fails to decode, and it may hold
    personal data."""

    model_config = ConfigDict(hide_input_in_errors=True)

    by: Actor
    request_id: RequestId | None = None
    evidence: list[Attachment] = Field(
        default=[], max_length=MAX_ATTACHMENTS, description="Files given with this message, uploaded first (POST /v1/evidence)."
    )

    @classmethod
    def samples(cls, case: Case) -> Sequence[Sent]:
        """What the exhaustive exploration (cases.explore) sends of this kind to `case`: every value
        its rules tell apart, from the party entitled to send it. Each kind declares its own."""
        raise NotImplementedError(f"{kind_of(cls)}: declare the samples the exploration sends")


def kind_of(model: type[BaseModel]) -> str:
    """A message class's kind: the name its update, signal, route and timeline entry go by."""
    kind: str = model.model_fields["kind"].default
    return kind


def sender(case: Case, party: Party) -> Actor:
    """The sender of a sample: the case's own buyer or seller, or a stand-in of another party."""
    return Actor(party=party, id=case.party_id(party) or f"{party.value}-x")


def _money(case: Case, amount: int) -> Money:
    return Money(amount=amount, currency=case.currency)


EXPLAINED = "explained"  # the note some policies require with every seller response


class SellerResponse(Sent):
    kind: Literal["seller_response"] = "seller_response"
    resolution: Resolution
    amount: Money | None = Field(default=None, description="Required for partial_refund; the amount offered.")
    tracking_number: Tracking | None = Field(default=None, description="Required for replacement and proof_of_delivery.")
    return_original: bool = Field(default=False, description="replacement only: the seller asks the original back, on a prepaid label at its cost.")
    note: Note | None = None

    @model_validator(mode="after")
    def _fields_for_resolution(self) -> SellerResponse:
        if self.resolution is Resolution.PARTIAL_REFUND and self.amount is None:
            raise ValueError("amount: required when resolution is partial_refund")
        if self.resolution is not Resolution.PARTIAL_REFUND and self.amount is not None:
            raise ValueError("amount: only a partial_refund takes an amount")
        if self.resolution in (Resolution.REPLACEMENT, Resolution.PROOF_OF_DELIVERY) and not self.tracking_number:
            raise ValueError(f"tracking_number: required when resolution is {self.resolution.value}")
        if self.return_original and self.resolution is not Resolution.REPLACEMENT:
            raise ValueError("return_original: only a replacement asks the original back")
        return self

    @classmethod
    def samples(cls, case: Case) -> Sequence[Sent]:
        """Every resolution, partial amounts at the edges (the rules refuse those above what is left),
        replacements with and without the original back, and one response unexplained."""
        by, paid = sender(case, Party.SELLER), case.covered.amount
        found: list[Sent] = []
        for resolution in Resolution:
            if resolution is Resolution.PARTIAL_REFUND:
                found += [cls(by=by, resolution=resolution, amount=_money(case, a), note=EXPLAINED) for a in sorted({1, paid // 2, paid - 1})]
            elif resolution in (Resolution.REPLACEMENT, Resolution.PROOF_OF_DELIVERY):
                found.append(cls(by=by, resolution=resolution, tracking_number="NEW-0001", note=EXPLAINED))
                if resolution is Resolution.REPLACEMENT:
                    found.append(cls(by=by, resolution=resolution, tracking_number="NEW-0001", return_original=True, note=EXPLAINED))
            else:
                found.append(cls(by=by, resolution=resolution, note=EXPLAINED))
        return [*found, cls(by=by, resolution=Resolution.FULL_REFUND)]


class BuyerAnswer(Sent):
    """The buyer's answer to a partial refund offer: accept it, or decline it and return the items."""

    kind: Literal["buyer_answer"] = "buyer_answer"
    accept: bool
    note: Note | None = None

    @classmethod
    def samples(cls, case: Case) -> Sequence[Sent]:
        return [cls(by=sender(case, Party.BUYER), accept=accept) for accept in (True, False)]


RefundAnswer = Literal["received", "not_received", "partial_not_accepted"]


class RefundConfirmation(Sent):
    """Where the seller refunds directly: the buyer says the refund arrived, did not arrive, or (for a
    partial refund) is not accepted. The last two both go to review, but they are different answers."""

    kind: Literal["refund_confirmation"] = "refund_confirmation"
    answer: RefundAnswer
    note: Note | None = None

    @classmethod
    def samples(cls, case: Case) -> Sequence[Sent]:
        return [cls(by=sender(case, Party.BUYER), answer=answer) for answer in get_args(RefundAnswer)]


class ReturnInspection(Sent):
    """The seller's verdict on returned items: confirm triggers the refund, dispute goes to support."""

    kind: Literal["return_inspection"] = "return_inspection"
    confirm: bool
    note: Note | None = None

    @classmethod
    def samples(cls, case: Case) -> Sequence[Sent]:
        return [cls(by=sender(case, Party.SELLER), confirm=confirm) for confirm in (True, False)]


ProtectionOption = Literal["cancel_protection", "not_received", "refund_not_received", "other_request"]


class ProtectionFeedback(Sent):
    """The buyer's answer during protection: satisfied (cancel), or a problem that opens a claim."""

    kind: Literal["protection_feedback"] = "protection_feedback"
    option: ProtectionOption
    note: Note | None = None

    @classmethod
    def samples(cls, case: Case) -> Sequence[Sent]:
        return [cls(by=sender(case, Party.BUYER), option=option) for option in get_args(ProtectionOption)]


class ResolutionConfirmed(Sent):
    """The buyer (retailer) marks the issue resolved once satisfied."""

    kind: Literal["resolution_confirmed"] = "resolution_confirmed"
    note: Note | None = None

    @classmethod
    def samples(cls, case: Case) -> Sequence[Sent]:
        return [cls(by=sender(case, Party.BUYER))]


class Escalation(Sent):
    kind: Literal["escalation"] = "escalation"
    note: Note | None = None

    @classmethod
    def samples(cls, case: Case) -> Sequence[Sent]:
        return [cls(by=sender(case, party)) for party in (Party.BUYER, Party.SUPPORT)]


class Withdrawal(Sent):
    kind: Literal["withdrawal"] = "withdrawal"
    note: Note | None = None

    @classmethod
    def samples(cls, case: Case) -> Sequence[Sent]:
        return [cls(by=sender(case, Party.BUYER))]


SupportVerdict = Literal["refund_charged_to_seller", "refund_at_platform_cost", "deny", "uphold", "overturn"]


class SupportDecision(Sent):
    """First decisions refund or deny; decisions on a seller's appeal uphold or overturn."""

    kind: Literal["support_decision"] = "support_decision"
    decision: SupportVerdict
    amount: Money | None = Field(default=None, description="Refund amount; defaults to all that is refundable.")
    note: Note | None = None

    @classmethod
    def samples(cls, case: Case) -> Sequence[Sent]:
        """Every verdict, and each refund also for half of what was paid."""
        by, half = sender(case, Party.SUPPORT), _money(case, case.covered.amount // 2)
        found: list[Sent] = []
        for verdict in get_args(SupportVerdict):
            found.append(cls(by=by, decision=verdict))
            if verdict.startswith("refund"):
                found.append(cls(by=by, decision=verdict, amount=half))
        return found


class Appeal(Sent):
    kind: Literal["appeal"] = "appeal"
    note: Note | None = None

    @classmethod
    def samples(cls, case: Case) -> Sequence[Sent]:
        return [cls(by=sender(case, Party.SELLER))]


class Reopening(Sent):
    """Support reopens a closed case (policies that allow it, within their limit if they set one);
    support decides next."""

    kind: Literal["reopening"] = "reopening"
    note: Note | None = None

    @classmethod
    def samples(cls, case: Case) -> Sequence[Sent]:
        return [cls(by=sender(case, party)) for party in (Party.SUPPORT, Party.BUYER)]


class PartyMessage(Sent):
    """A message to the other parties; changes no state."""

    kind: Literal["message"] = "message"
    text: str = Field(min_length=1, max_length=2000)

    @classmethod
    def samples(cls, case: Case) -> Sequence[Sent]:
        return [cls(by=sender(case, Party.SELLER), text="a word to the buyer")]  # changes nothing the checks read


class ReturnShipped(Sent):
    kind: Literal["return_shipped"] = "return_shipped"
    tracking_number: Tracking

    @classmethod
    def samples(cls, case: Case) -> Sequence[Sent]:
        return [cls(by=sender(case, Party.CARRIER), tracking_number="RET-0001")]


class ReturnDelivered(Sent):
    kind: Literal["return_delivered"] = "return_delivered"

    @classmethod
    def samples(cls, case: Case) -> Sequence[Sent]:
        return [cls(by=sender(case, Party.CARRIER))]


class RefundSettled(Sent):
    kind: Literal["refund_settled"] = "refund_settled"
    refund_number: int = Field(ge=1)
    gateway_ref: str | None = None

    @classmethod
    def samples(cls, case: Case) -> Sequence[Sent]:
        return [cls(by=sender(case, Party.PAYMENT), refund_number=refund.number) for refund in case.refunds]


class RefundFailed(Sent):
    kind: Literal["refund_failed"] = "refund_failed"
    refund_number: int = Field(ge=1)
    failure: str = Field(min_length=1, max_length=500)
    other_cases_refunded: Money | None = Field(
        default=None, description="Set when the order's other cases have already taken this much of what was paid."
    )

    @classmethod
    def samples(cls, case: Case) -> Sequence[Sent]:
        """Declined, or refused by the order's budget: the other cases took half, or all that is left."""
        by, paid, found = sender(case, Party.PAYMENT), case.order.total_paid.amount, list[Sent]()
        for refund in case.refunds:
            left = paid - case.refunded.amount + (refund.amount.amount if refund.status == "requested" else 0)
            found.append(cls(by=by, refund_number=refund.number, failure="declined"))
            found += [
                cls(by=by, refund_number=refund.number, failure="budget", other_cases_refunded=_money(case, taken))
                for taken in sorted({min(paid // 2, left), left})
            ]
        return found


class DeadlinePassed(Strict):
    """Made by the workflow when the case's deadline timer fires; never sent from outside."""

    kind: Literal["deadline_passed"] = "deadline_passed"
    by: Actor
    status: Status
    due_at: datetime


class _Alarm(Strict):
    """A moment the case armed for itself; the workflow delivers it when the time comes."""

    by: Actor
    at: datetime


class ReminderDue(_Alarm):
    """A reminder before the deadline falls due."""

    kind: Literal["reminder_due"] = "reminder_due"


class SellerFlagDue(_Alarm):
    """The case has been unresolved long enough to flag its seller."""

    kind: Literal["seller_flag_due"] = "seller_flag_due"


class EscalationOpens(_Alarm):
    """The case is old enough for the buyer to escalate (policies with that rule)."""

    kind: Literal["escalation_opens"] = "escalation_opens"


Decision = (
    SellerResponse
    | BuyerAnswer
    | RefundConfirmation
    | ProtectionFeedback
    | ReturnInspection
    | ResolutionConfirmed
    | Escalation
    | Withdrawal
    | SupportDecision
    | Appeal
    | Reopening
)
Fact = ReturnShipped | ReturnDelivered | RefundSettled | RefundFailed
Clock = DeadlinePassed | ReminderDue | EscalationOpens | SellerFlagDue
CaseMessage = Annotated[Decision | PartyMessage | Fact | Clock, Field(discriminator="kind")]
FACT_KINDS = frozenset(kind_of(model) for model in get_args(Fact))

OpenCase.model_rebuild()  # it names Reopening, defined after it
