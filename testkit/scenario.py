"""Scenario files, for people who do not write Python: a case opened under a policy, messages at given
moments, waits until deadlines, and the outcome it must reach, run on a time-skipping server.

    title = "The seller refunds in full"
    reason = "defective"
    [[step]]
    after = "2h"                      # time that passes first: 30m, 2h, 3d
    send = "seller_response"          # any kind `refund-cases send --help` lists
    fields = { resolution = "full_refund" }
    [[step]]
    until = "deadline"                # just after the case's deadline ("before deadline": just before)
    [expect]
    status = "closed"
    refunded = 4500                   # minor units
"""

from __future__ import annotations

import re
import tomllib
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError

from cases import policies
from cases.engine import SENDABLE, sender_party
from cases.model import CaseKind, ItemCategory, Order, OrderItem, Party, Reason
from cases.money import Money
from cases.policy import Policy
from cases.refusal import Refusal
from cases.strict import Strict, field_rules
from cases.view import CaseView
from starter.client import CaseRefused, NewCase, checked
from testkit.world import CaseWorld, KitError, case_world

DURATION = re.compile(r"^(\d+)([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(text: str) -> timedelta:
    found = DURATION.match(text)
    if found is None:
        raise ValueError(f"{text!r}: a duration is a whole number and s, m, h or d, such as 30m or 3d")
    return timedelta(**{UNITS[found.group(2)]: int(found.group(1))})


class OrderShape(Strict):
    """The order the case is opened on; its dates are counted back from the opening."""

    price: int = Field(4000, gt=0, description="The item's price, minor units.")
    shipping: int = Field(500, ge=0)
    currency: str = "EUR"
    category: ItemCategory = ItemCategory.GENERAL
    shipped: bool = True


Duration = Annotated[str, AfterValidator(lambda text: duration(text) and text)]


class Step(Strict):
    after: Duration = Field("0s", description="Time that passes before the step.")
    send: str | None = Field(None, description="A kind of message.")
    party: Party | None = Field(None, alias="as", description="Who sends it, where more than one party may.")
    fields: dict[str, Any] = Field(default_factory=dict, description="Its fields, as the HTTP API takes them (without by).")
    refused: bool = Field(False, description="The step must be refused (and change nothing).")
    until: Literal["deadline", "before deadline"] | None = None


class Expectation(Strict):
    status: str | None = None
    outcome: str | None = None
    refunded: int | None = None
    charged_to_seller: int | None = None
    told: list[str] = Field([], description="party:event notices the case must have sent, such as buyer:case_closed.")


class Scenario(Strict):
    title: str
    reason: Reason = Reason.DEFECTIVE
    kind: CaseKind = CaseKind.REFUND_REQUEST
    order: OrderShape = OrderShape()
    step: list[Step] = Field(default_factory=list)
    expect: Expectation = Expectation()


def load(path: Path) -> Scenario:
    """A scenario file; bad input names the field and the rule."""
    try:
        return Scenario.model_validate(tomllib.loads(path.read_text()))
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from None
    except ValidationError as invalid:
        field, rule = field_rules(invalid)[0]
        field = re.sub(r"^step\.(\d+)\.", lambda found: f"step {int(found.group(1)) + 1}: ", field)  # steps count from 1
        raise ValueError(f"{path}: {field}: {rule.removeprefix('Value error, ')}") from None


def policy_from(name_or_file: str) -> Policy:
    """A preset by name, or a policy file."""
    path = Path(name_or_file)
    return policies.load_file(path) if path.suffix == ".toml" else policies.load(name_or_file)


def _order(shape: OrderShape, kind: CaseKind, now: datetime) -> Order:
    money = lambda amount: Money(amount=amount, currency=shape.currency)  # noqa: E731
    shipped = shape.shipped and kind is CaseKind.REFUND_REQUEST  # protection opens at checkout, cancellation before shipping
    bought = now - (timedelta(days=3) if shipped else timedelta(hours=2))
    return Order(
        order_id=f"ord-{uuid.uuid4().hex[:8]}", seller_id="seller-1", buyer_id="buyer-1", currency=shape.currency,
        items=[OrderItem(sku="item-1", category=shape.category, unit_price=money(shape.price))], shipping_paid=money(shape.shipping),
        purchased_at=bought, shipped_at=bought + timedelta(days=1) if shipped else None,
        estimated_delivery_at=now - timedelta(days=1) if shipped else None, delivered_at=now - timedelta(hours=1) if shipped else None,
        protection_opted_in=kind is CaseKind.PROTECTION,
    )  # fmt: skip


async def play(world: CaseWorld, scenario: Scenario, policy: Policy) -> CaseView:
    """Opens the case and plays each step; a step that goes otherwise than the file says raises KitError."""
    order = _order(scenario.order, scenario.kind, await world.now())
    new = checked(NewCase, request_id=f"scenario-{uuid.uuid4().hex[:8]}", reason=scenario.reason, kind=scenario.kind, order=order, policy=policy.name)
    case_id = (await world.client.open(new)).case_id
    for number, step in enumerate(scenario.step, start=1):
        await _step(world, case_id, number, step)
    return await world.settled(case_id)


async def _step(world: CaseWorld, case_id: str, number: int, step: Step) -> None:
    await world.skip(duration(step.after))
    if step.until is not None:
        near = timedelta(seconds=1)
        await world.skip_to_deadline(case_id, **({"before": near} if step.until == "before deadline" else {"after": near}))
    if step.send is None:
        return
    if step.send not in SENDABLE:
        raise KitError(f"step {number}: send: {step.send!r} is no kind of message; kinds: {', '.join(sorted(SENDABLE))}")
    model = SENDABLE[step.send]
    try:
        party = sender_party(model, step.party)
    except Refusal as unclear:
        raise KitError(f"step {number}: as: {unclear.rule}") from None
    shown = await world.client.show(case_id)
    by = {"party": party, "id": shown.party_id(party) or f"{party.value}-1"}
    try:
        await world.client.send(case_id, checked(model, **{**step.fields, "by": by}))  # type: ignore[arg-type]
    except CaseRefused as refused:
        if not step.refused:
            raise KitError(f"step {number}: {step.send} was refused: {refused}") from None
        return
    if step.refused:
        raise KitError(f"step {number}: {step.send} was taken, but the scenario says it is refused")


def mismatches(expect: Expectation, shown: CaseView, told: list[str]) -> list[str]:
    """Every expectation the case did not meet, as `what: expected X, got Y`."""
    got = {
        "status": shown.status.value,
        "outcome": shown.outcome.value if shown.outcome else None,
        "refunded": shown.refunded.amount,
        "charged_to_seller": shown.charged_to_seller.amount,
    }
    found = [
        f"{name}: expected {wanted}, got {got[name]}"
        for name, wanted in expect.model_dump(exclude={"told"}).items()
        if wanted is not None and wanted != got[name]
    ]
    found += [f"told: expected {notice}, not sent" for notice in expect.told if notice not in told]
    return found


async def simulate(policy: Policy, scenario: Scenario) -> tuple[CaseView, list[str]]:
    """The case at the scenario's end and the notices it sent (party:event), on a server of its own."""
    async with case_world() as world:
        world.client.extra_policies[policy.name] = policy
        shown = await play(world, scenario, policy)
        told = [f"{notice.party}:{notice.event}" for notice in world.notices(shown.case_id)]
        return shown, told
