"""`refund-cases`: open cases, act as any party, read them. A thin layer over CaseClient."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from cases import policies, schemas
from cases.engine import SENDABLE, sender_party
from cases.evidence import Attachment, EvidenceKind
from cases.messages import (
    Appeal,
    BuyerAnswer,
    Escalation,
    PartyMessage,
    ProtectionFeedback,
    RefundConfirmation,
    RefundFailed,
    RefundSettled,
    Reopening,
    ResolutionConfirmed,
    ReturnDelivered,
    ReturnInspection,
    ReturnShipped,
    SellerResponse,
    SupportDecision,
    SupportVerdict,
    Withdrawal,
)
from cases.model import Actor, CaseKind, CaseLine, ItemCategory, Order, OrderItem, Party, Reason, Resolution, Status
from cases.money import Money
from cases.refusal import Refusal
from cases.strict import field_rules
from cases.view import CaseView
from config.settings import Settings
from starter import reconcile, render, store_cli
from starter.client import CaseClient, CaseRefused, NewCase
from starter.command_context import current_settings, evidence_files, open_store, read_once

app = typer.Typer(help="Marketplace refund cases on Temporal.", no_args_is_help=True, pretty_exceptions_enable=False)
seller = typer.Typer(help="Act as the seller.", no_args_is_help=True)
buyer = typer.Typer(help="Act as the buyer.", no_args_is_help=True)
support = typer.Typer(help="Act as support.", no_args_is_help=True)
carrier = typer.Typer(help="Report carrier facts about a return.", no_args_is_help=True)
payment = typer.Typer(help="Report payment-provider facts about a refund.", no_args_is_help=True)
policy_app = typer.Typer(help="Inspect policies.", no_args_is_help=True)
for sub, name in [(seller, "seller"), (buyer, "buyer"), (support, "support"), (carrier, "carrier"), (payment, "payment"), (policy_app, "policy")]:
    app.add_typer(sub, name=name)
store_cli.register(app)

out = Console()
err = Console(stderr=True, soft_wrap=True)  # one-line messages: an id or a rule is never split across lines

CaseArg = Annotated[str, typer.Argument(help="Case id (as printed by `open` and `list`).")]
AsOpt = Annotated[str | None, typer.Option("--as", help="Acting party's id; defaults to the case's own.")]
NoteOpt = Annotated[str | None, typer.Option(help="Free text for the other parties.")]
SignalOpt = Annotated[bool, typer.Option("--signal", help="Fire and forget: send as a signal, do not wait for a yes or no.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
AttachOpt = Annotated[
    list[str] | None,
    typer.Option("--attach", help="FILE[:KIND[:CAPTION]]: a photo, video, screenshot or PDF to give with it (kind photo by default); repeatable."),
]

Verdict = StrEnum("Verdict", {v: v for v in get_args(SupportVerdict)})  # type: ignore[misc]  # mypy wants the members spelled out


@contextmanager
def _plain_errors() -> Iterator[None]:
    """Refusals and bad input become one clear line naming the field, and exit code 2."""
    try:
        yield
    except (CaseRefused, Refusal) as refused:
        err.print(f"[red]refused[/red] {refused}")
        raise typer.Exit(2) from None
    except ValidationError as invalid:
        for field, rule in field_rules(invalid):
            err.print(f"[red]invalid[/red] {field}: {rule}")
        raise typer.Exit(2) from None
    except ValueError as invalid:
        err.print(f"[red]invalid[/red] {invalid}")
        raise typer.Exit(2) from None


def _run(work: Callable[[CaseClient], Awaitable[Any]]) -> Any:
    """Connects, with the case store beside (abuse rules at opening, reopening a closed case), and runs `work`."""

    async def main() -> Any:
        settings = current_settings()
        try:
            client = await CaseClient.connect(settings)
        except RuntimeError as error:
            err.print(f"[red]cannot reach Temporal at {settings.temporal_address}[/red]: {error}. Is `make run` running?")
            raise typer.Exit(1) from None
        store = open_store(settings)
        return await work(client.use_store(store).use_evidence(evidence_files(settings, store)))

    return asyncio.run(main())


def _act(
    case_id: str, party: Party, as_id: str | None, build: Callable[[Actor, CaseView], Any], signal: bool = False, attach: list[str] | None = None
) -> None:
    """Reads the case (for its party ids and currency), builds the message, uploads its files, sends
    it, shows the result."""

    async def work(client: CaseClient) -> None:
        current = await client.show(case_id)
        message = build(Actor(party=party, id=as_id or current.party_id(party) or f"{party.value}-cli"), current)
        if attach:
            message = message.model_copy(update={"evidence": await _attachments(client, attach)})
        shown = await client.send(case_id, message, wait=not signal)
        if shown is None:
            shown = await _taken(client, case_id, current.version)
        if shown is None:
            out.print(f"sent {message.kind} to case {case_id} as a signal; it applies when a worker runs", soft_wrap=True)
        else:
            render.case(out, shown)

    _run(work)


async def _taken(client: CaseClient, case_id: str, version: int, seconds: float = 5) -> CaseView | None:
    """Waits briefly for a signal to be applied, so the user sees its effect (or its refusal)."""
    for _ in range(int(seconds * 20)):
        shown = await client.show(case_id)
        if shown.version > version:
            return shown
        await asyncio.sleep(0.05)
    return None


def _money(text: str | None, view: CaseView) -> Money | None:
    return Money.parse(text, view.total_paid.currency) if text is not None else None


# ---------------------------------------------------------------------------------------------- open


@app.command("open")
def open_case(
    order_id: Annotated[str, typer.Option("--order", help="Order id (opaque).")],
    seller_id: Annotated[str, typer.Option("--seller", help="Seller id (opaque).")],
    buyer_id: Annotated[str, typer.Option("--buyer", help="Buyer id (opaque).")],
    item: Annotated[list[str], typer.Option(help="SKU:CATEGORY:PRICE[:QTY], e.g. sku-1:general:40.00; repeatable.")],
    reason: Annotated[Reason, typer.Option(help="Why the buyer asks.")],
    shipping: Annotated[str, typer.Option(help="Shipping paid by the buyer, e.g. 5.00.")] = "0",
    currency: Annotated[str, typer.Option(help="ISO currency of the order.")] = "EUR",
    kind: Annotated[CaseKind, typer.Option(help="refund_request; cancellation before shipping; protection at checkout.")] = CaseKind.REFUND_REQUEST,
    policy: Annotated[str, typer.Option(help="Policy preset.")] = "direct_service",
    purchased_at: Annotated[datetime | None, typer.Option(help="ISO time of purchase; default now.")] = None,
    shipped_at: Annotated[datetime | None, typer.Option(help="ISO time of shipping; default: shipped at purchase.")] = None,
    not_shipped: Annotated[bool, typer.Option("--not-shipped", help="The order has not shipped yet.")] = False,
    label_printed_at: Annotated[datetime | None, typer.Option(help="ISO time the shipping label was printed.")] = None,
    fraud_flag: Annotated[bool, typer.Option("--fraud-flag", help="The buyer is flagged for refund review.")] = False,
    protection: Annotated[bool, typer.Option("--protection-opted-in", help="The buyer opted in to buyer protection.")] = False,
    delivered_at: Annotated[datetime | None, typer.Option(help="ISO time the order arrived.")] = None,
    estimated_delivery_at: Annotated[datetime | None, typer.Option(help="ISO estimated delivery time.")] = None,
    request_id: Annotated[str | None, typer.Option(help="Idempotency key; the same id opens the same case.")] = None,
    line: Annotated[
        list[str] | None, typer.Option("--line", help="SKU[:QUANTITY] of the order the case concerns; repeatable; every unit when absent.")
    ] = None,
    attach: AttachOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open a case on an order (or on some of its lines), with the buyer's files."""

    def new_case() -> NewCase:
        now = datetime.now(UTC)
        bought = _utc(purchased_at) or now
        order = Order(
            order_id=order_id,
            seller_id=seller_id,
            buyer_id=buyer_id,
            currency=currency,
            items=[_item(text, currency) for text in item],
            shipping_paid=Money.parse(shipping, currency),
            purchased_at=bought,
            shipped_at=None if not_shipped else (_utc(shipped_at) or bought),
            label_printed_at=_utc(label_printed_at),
            delivered_at=_utc(delivered_at),
            estimated_delivery_at=_utc(estimated_delivery_at),
            protection_opted_in=protection,
        )
        return NewCase(
            request_id=request_id or f"cli-{now.timestamp():.6f}",
            reason=reason,
            kind=kind,
            order=order,
            policy=policy,
            buyer_flagged_for_fraud=fraud_flag,
            lines=[_line(text) for text in line] if line else None,
        )

    new = new_case()
    _run(lambda client: _open_and_show(client, new, attach or [], as_json))


async def _open_and_show(client: CaseClient, new: NewCase, attach: list[str], as_json: bool) -> None:
    opened = await client.open(new.model_copy(update={"evidence": await _attachments(client, attach)}))
    if as_json:
        out.print_json(json.dumps({"case_id": opened.case_id, "workflow_id": opened.workflow_id, "created": opened.created}))
    else:
        verb = "opened" if opened.created else "already open (same request id)"
        out.print(f"case [bold]{opened.case_id}[/bold] {verb}; workflow id {opened.workflow_id}", soft_wrap=True)


def _item(text: str, currency: str) -> OrderItem:
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise typer.BadParameter(f"item {text!r}: expected SKU:CATEGORY:PRICE[:QTY]")
    sku, category, price = parts[:3]
    try:
        return OrderItem(
            sku=sku, category=ItemCategory(category), unit_price=Money.parse(price, currency), quantity=int(parts[3]) if len(parts) == 4 else 1
        )
    except ValueError as error:
        raise typer.BadParameter(f"item {text!r}: {error}") from None


async def _attachments(client: CaseClient, given: list[str]) -> list[Attachment]:
    """Uploads each FILE[:KIND[:CAPTION]] to the evidence store; the references the message carries."""
    found = []
    for text in given:
        path, _, rest = text.partition(":")
        kind, _, caption = rest.partition(":")
        try:
            content = await asyncio.to_thread(Path(path).read_bytes)
            found.append(await client.attach(content, EvidenceKind(kind or "photo"), caption or None, uploader="cli"))
        except (OSError, ValueError) as error:
            raise typer.BadParameter(f"--attach {text!r}: {error}") from None
    return found


def _line(text: str) -> CaseLine:
    sku, _, quantity = text.partition(":")
    try:
        return CaseLine(sku=sku, quantity=int(quantity) if quantity else None)
    except ValueError as error:
        raise typer.BadParameter(f"--line {text!r}: expected SKU[:QUANTITY] ({error})") from None


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


# ------------------------------------------------------------------------------------------- parties


@seller.command("respond")
def seller_respond(
    case_id: CaseArg,
    resolution: Annotated[Resolution, typer.Option(help="What the seller offers.")],
    amount: Annotated[str | None, typer.Option(help="Partial refund amount, e.g. 12.50.")] = None,
    tracking: Annotated[str | None, typer.Option(help="Tracking number of a replacement.")] = None,
    return_original: Annotated[bool, typer.Option(help="With a replacement: ask the original back on a prepaid label at your cost.")] = False,
    as_id: AsOpt = None,
    note: NoteOpt = None,
    signal: SignalOpt = False,
    attach: AttachOpt = None,
) -> None:
    """Answer the buyer's request (or a cancellation: full_refund accepts, decline refuses), with the seller's files."""
    _act(
        case_id,
        Party.SELLER,
        as_id,
        lambda by, v: SellerResponse(
            by=by,
            resolution=resolution,
            amount=_money(amount, v),
            tracking_number=tracking,
            return_original=return_original,
            note=note,
        ),
        signal,
        attach,
    )


@seller.command("inspect")
def seller_inspect(
    case_id: CaseArg,
    confirm: Annotated[bool, typer.Option("--confirm/--dispute", help="Confirm the returned items, or dispute them.")],
    as_id: AsOpt = None,
    note: NoteOpt = None,
    signal: SignalOpt = False,
) -> None:
    """Confirm returned items (refund follows) or dispute them (support decides)."""
    _act(case_id, Party.SELLER, as_id, lambda by, v: ReturnInspection(by=by, confirm=confirm, note=note), signal)


@buyer.command("accept-offer")
def buyer_accept(case_id: CaseArg, as_id: AsOpt = None, note: NoteOpt = None, signal: SignalOpt = False) -> None:
    """Accept the seller's partial refund offer."""
    _act(case_id, Party.BUYER, as_id, lambda by, v: BuyerAnswer(by=by, accept=True, note=note), signal)


@buyer.command("decline-offer")
def buyer_decline(case_id: CaseArg, as_id: AsOpt = None, note: NoteOpt = None, signal: SignalOpt = False) -> None:
    """Decline the partial offer: return the items for a full refund instead."""
    _act(case_id, Party.BUYER, as_id, lambda by, v: BuyerAnswer(by=by, accept=False, note=note), signal)


@buyer.command("feedback")
def buyer_feedback(
    case_id: CaseArg,
    option: Annotated[str, typer.Option(help="cancel_protection, not_received, refund_not_received or other_request.")],
    as_id: AsOpt = None,
    note: NoteOpt = None,
    signal: SignalOpt = False,
) -> None:
    """Answer during buyer protection: cancel it, or report a problem."""
    _act(case_id, Party.BUYER, as_id, lambda by, v: ProtectionFeedback(by=by, option=option, note=note), signal)


@buyer.command("refund-arrived")
def buyer_refund_arrived(
    case_id: CaseArg,
    answer: Annotated[str, typer.Option(help="received, not_received, or partial_not_accepted (a partial refund the buyer does not accept).")],
    as_id: AsOpt = None,
    note: NoteOpt = None,
    signal: SignalOpt = False,
) -> None:
    """Where the seller refunds directly: say whether the money arrived, or that a partial refund is not accepted."""
    _act(case_id, Party.BUYER, as_id, lambda by, v: RefundConfirmation(by=by, answer=answer, note=note), signal)


@support.command("reinstate")
def support_reinstate(
    seller_id: Annotated[str, typer.Argument(help="The seller to reinstate.")],
    as_id: AsOpt = None,
) -> None:
    """Reinstate a flagged seller: lift the flags its resolved cases left (resolving a case does not)."""
    lifted = open_store(current_settings()).reinstate_seller(seller_id, f"support:{as_id or 'support-cli'}", datetime.now(UTC))
    out.print(f"{seller_id} reinstated: the flags of case(s) {', '.join(lifted)} are lifted, and the seller is told")


@support.command("decide")
def support_decide(
    case_id: CaseArg,
    decision: Annotated[Verdict, typer.Option(help="First decision, or uphold/overturn on an appeal.")],
    amount: Annotated[str | None, typer.Option(help="Refund amount; default all that is refundable.")] = None,
    as_id: AsOpt = None,
    note: NoteOpt = None,
    signal: SignalOpt = False,
) -> None:
    """Decide an escalated case, or a seller's appeal."""
    _act(
        case_id,
        Party.SUPPORT,
        as_id,
        lambda by, v: SupportDecision(by=by, decision=decision.value, amount=_money(amount, v), note=note),
        signal,
    )


def _note_only(group: typer.Typer, name: str, party: Party, model: type, doc: str) -> None:
    """A party's decision that carries nothing but an optional note."""

    def command(case_id: CaseArg, as_id: AsOpt = None, note: NoteOpt = None, signal: SignalOpt = False) -> None:
        _act(case_id, party, as_id, lambda by, v: model(by=by, note=note), signal)

    command.__doc__ = doc
    group.command(name)(command)


for _group, _name, _party, _model, _doc in [
    (seller, "appeal", Party.SELLER, Appeal, "Appeal a support decision that charged you."),
    (buyer, "confirm-resolved", Party.BUYER, ResolutionConfirmed, "Mark the issue resolved (after a replacement or talking with the seller)."),
    (buyer, "escalate", Party.BUYER, Escalation, "Ask support to decide after the seller declined (or once the case is old enough)."),
    (buyer, "withdraw", Party.BUYER, Withdrawal, "Withdraw the request, or close the case."),
    (support, "escalate", Party.SUPPORT, Escalation, "Take a case to support early."),
    (support, "reopen", Party.SUPPORT, Reopening, "Reopen a closed case for a new decision (where the policy allows it)."),
]:
    _note_only(_group, _name, _party, _model, _doc)


# Every kind a party or a carrier sends, from the registry of message kinds: a new kind is here unedited.
SendableKind = StrEnum("SendableKind", {kind: kind for kind in sorted(SENDABLE)})  # type: ignore[misc]  # members from the registry


@app.command("send")
def send(
    case_id: CaseArg,
    kind: Annotated[SendableKind, typer.Argument(help="The kind of message.", show_default=False)],
    body: Annotated[str, typer.Option("--json", help='Its fields as JSON, as the HTTP API takes them (without "by").')] = "{}",
    party: Annotated[Party | None, typer.Option(help="Who sends it, where more than one party may.")] = None,
    as_id: AsOpt = None,
    signal: SignalOpt = False,
    attach: AttachOpt = None,
) -> None:
    """Send any kind of message, its fields as JSON, with files: the commands above, and every kind they do not cover."""
    model = SENDABLE[kind.value]
    try:
        sender = sender_party(model, party)
    except Refusal as unclear:
        raise ValueError(f"--party: {unclear.rule}") from None
    try:
        fields = json.loads(body)
    except json.JSONDecodeError as error:
        raise ValueError(f"--json: not JSON ({error.msg})") from None
    if not isinstance(fields, dict):
        raise ValueError("--json: must be an object of the message's fields")
    _act(case_id, sender, as_id, lambda by, v: model.model_validate({**fields, "by": by.model_dump()}), signal, attach)


@app.command("evidence")
def evidence(
    case_id: CaseArg,
    digest: Annotated[str, typer.Argument(help="The file's digest, as `show` lists it.")],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the file.")],
) -> None:
    """Download a file the case holds from the evidence store."""

    async def work(client: CaseClient) -> None:
        found = await client.file_of(case_id, digest)
        if found is None:
            err.print(f"case {case_id} holds no file {digest}")
            raise typer.Exit(1)
        await asyncio.to_thread(out_file.write_bytes, found[0])
        out.print(f"wrote {len(found[0])} bytes ({found[1]}) to {out_file}")

    _run(work)


@app.command("message")
def message(
    case_id: CaseArg,
    party: Annotated[Party, typer.Option(help="Who writes: buyer, seller or support.")],
    text: Annotated[str, typer.Option(help="The message.")],
    as_id: AsOpt = None,
) -> None:
    """Send a message to the other parties (changes no state)."""
    _act(case_id, party, as_id, lambda by, v: PartyMessage(by=by, text=text))


@carrier.command("shipped")
def carrier_shipped(case_id: CaseArg, tracking: Annotated[str, typer.Option(help="Return tracking number.")], as_id: AsOpt = None) -> None:
    """The buyer's return was handed to the carrier."""
    _act(case_id, Party.CARRIER, as_id, lambda by, v: ReturnShipped(by=by, tracking_number=tracking))


@carrier.command("delivered")
def carrier_delivered(case_id: CaseArg, as_id: AsOpt = None) -> None:
    """The return reached the seller."""
    _act(case_id, Party.CARRIER, as_id, lambda by, v: ReturnDelivered(by=by))


@payment.command("settled")
def payment_settled(case_id: CaseArg, refund: Annotated[int, typer.Option(help="Refund number.")] = 1, as_id: AsOpt = None) -> None:
    """A pending refund settled at the provider."""
    _act(case_id, Party.PAYMENT, as_id, lambda by, v: RefundSettled(by=by, refund_number=refund))


@payment.command("failed")
def payment_failed(
    case_id: CaseArg,
    failure: Annotated[str, typer.Option(help="The provider's reason.")],
    refund: Annotated[int, typer.Option(help="Refund number.")] = 1,
    as_id: AsOpt = None,
) -> None:
    """A pending refund failed at the provider."""
    _act(case_id, Party.PAYMENT, as_id, lambda by, v: RefundFailed(by=by, refund_number=refund, failure=failure))


# ------------------------------------------------------------------------------------------ reading


@app.command("show")
def show(case_id: CaseArg, as_json: JsonOpt = False) -> None:
    """Show one case: status, who acts next and by when, options, money, offers, timeline."""

    async def work(client: CaseClient) -> None:
        shown = await client.show(case_id)
        out.print_json(shown.model_dump_json()) if as_json else render.case(out, shown)

    _run(work)


@app.command("list")
def list_cases(
    status: Annotated[Status | None, typer.Option(help="Only this status.")] = None,
    awaiting: Annotated[str | None, typer.Option(help="seller, buyer, support or none.")] = None,
    seller_id: Annotated[str | None, typer.Option("--seller", help="Only this seller's cases.")] = None,
    reason: Annotated[Reason | None, typer.Option(help="Only this reason.")] = None,
    policy: Annotated[str | None, typer.Option(help="Only this policy.")] = None,
    waiting_days: Annotated[
        float | None, typer.Option("--waiting-longer-than", help="Only cases waiting on the same party for more than this many days.")
    ] = None,
    query: Annotated[str | None, typer.Option(help="Extra visibility filter, e.g. \"ResponseDueAt < '2026-12-01T00:00:00Z'\".")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List cases from Temporal visibility, newest first."""
    filters = [
        f"{name} = '{value}'"
        for name, value in [
            ("CaseStatus", status),
            ("AwaitingParty", awaiting),
            ("SellerId", seller_id),
            ("CaseReason", reason),
            ("CasePolicy", policy),
        ]
        if value
    ]
    if waiting_days is not None:
        since = datetime.now(UTC) - timedelta(days=waiting_days)
        filters.append(f"AwaitingSince < '{since:%Y-%m-%dT%H:%M:%SZ}'")
    if query:
        filters.append(f"({query})")

    async def work(client: CaseClient) -> None:
        rows = await client.list(" AND ".join(filters), limit=limit)
        if as_json:
            out.print_json(json.dumps(rows, default=str))
        else:
            render.case_list(out, rows)

    _run(work)


@store_cli.store_app.command("check")
def store_check(
    repair: Annotated[bool, typer.Option("--repair", help="Rewrite drifted rows from the workflows.")] = False,
    closed_within_days: Annotated[int, typer.Option(min=0, help="Also the cases closed in the last this many days, their money above all.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Compare every open case's store row, refunds and seller ledger with its workflow's own view (and
    recently closed ones' with --closed-within-days); report drift (exit 1), or repair the case row and
    refunds (exit 1 if a ledger drift is left)."""

    async def work(client: CaseClient) -> int:
        since = datetime.now(UTC) - timedelta(days=closed_within_days) if closed_within_days else None
        compared, drifts = await reconcile.check(client, open_store(current_settings()), repair=repair, closed_since=since)
        left = [drift for drift in drifts if not drift.repaired]
        if as_json:
            out.print_json(json.dumps({"compared": compared, "drifts": [vars(d) for d in drifts]}))
        else:
            for drift in drifts:
                out.print(f"{'repaired' if drift.repaired else '[red]drift[/red]'} {drift.case_id}: {drift.what}", soft_wrap=True)
                if drift.left:  # set by a repair only
                    out.print(f"  [red]left[/red] (money posted under its keys is not rewritten): {drift.left}", soft_wrap=True)
            repaired = len(drifts) - len(left)
            out.print(f"{compared} case(s) compared, {len(drifts)} drifted" + (f", {repaired} repaired" if repair and drifts else ""))
        return 1 if left else 0

    code = _run(work)
    if code:
        raise typer.Exit(code)


@policy_app.command("list")
def policy_list() -> None:
    """The policy presets this build knows."""
    table = Table("name", "version", "title")
    for name in policies.names():
        loaded = policies.load(name)
        table.add_row(name, loaded.version, loaded.title)
    out.print(table)


@policy_app.command("show")
def policy_show(name: str) -> None:
    """One policy as JSON."""
    try:
        out.print_json(policies.load(name).model_dump_json())
    except policies.PolicyError as error:
        err.print(f"[red]invalid[/red] {error}")
        raise typer.Exit(2) from None


@policy_app.command("validate")
def policy_validate(path: Annotated[Path, typer.Argument(help="A policy TOML file.", exists=True, dir_okay=False)]) -> None:
    """Check a policy file; errors name the file, the field and the rule."""
    try:
        loaded = policies.load_file(path)
    except policies.PolicyError as error:
        err.print(f"[red]invalid[/red] {error}")
        raise typer.Exit(2) from None
    out.print(f"{path}: policy {loaded.name} version {loaded.version} is valid")


@policy_app.command("simulate")
def policy_simulate(
    policy: Annotated[str, typer.Argument(help="A preset's name, or a policy TOML file.")],
    scenario: Annotated[Path, typer.Argument(help="A scenario TOML file (examples/scenarios/).", exists=True, dir_okay=False)],
    expect: Annotated[bool, typer.Option("--expect", help="Check the scenario's [expect] table; exit 1 on a mismatch.")] = False,
) -> None:
    """Run a scripted case on a time-skipping server of its own, then print its timeline, money and notices."""
    from testkit import KitError
    from testkit import scenario as scenarios  # the command line composes the testing kit for this command alone

    chosen, played = scenarios.policy_from(policy), scenarios.load(scenario)
    try:
        shown, told = asyncio.run(scenarios.simulate(chosen, played))
    except KitError as went_otherwise:  # a step did not go as the scenario says
        err.print(f"[red]expected[/red] {went_otherwise}")
        raise typer.Exit(1) from None
    out.print(f"[bold]{played.title}[/bold] under {chosen.name} {chosen.version}")
    render.case(out, shown)
    out.print("told: " + (", ".join(told) or "nobody"), soft_wrap=True)
    if expect:
        missed = scenarios.mismatches(played.expect, shown, told)
        for line in missed:
            err.print(f"[red]expected[/red] {line}")
        if missed:
            raise typer.Exit(1)
        out.print("as expected")


@policy_app.command("explore")
def policy_explore(
    name: Annotated[str, typer.Argument(help="A preset name, or the path of a policy TOML file.")],
    max_depth: Annotated[int, typer.Option(help="Fail if the states do not close by this depth.")] = 60,
) -> None:
    """Explore every reachable state of a policy and check it (see cases/explore.py)."""
    from cases.explore import CounterExample, explore

    try:
        policy = policies.load_file(Path(name)) if name.endswith(".toml") else policies.load(name)
        out.print(str(explore(policy, max_depth=max_depth)))
    except policies.PolicyError as error:
        err.print(f"[red]invalid[/red] {error}")
        raise typer.Exit(2) from None
    except CounterExample as found:
        err.print(f"[red]counter-example[/red] {found}")
        raise typer.Exit(1) from None


@app.command("schema")
def schema(out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the schemas into.")] = Path("schemas")) -> None:
    """Writes a JSON Schema for the workflow's input and result, every update and signal, and the query,
    for backends that call the workflows through their own Temporal SDK (Go, Java, TypeScript…)."""
    written = schemas.write(out_dir)
    out.print(f"{len(written)} schemas written to {out_dir}/")


@app.command("demo")
def demo() -> None:
    """Open a handful of cases that take different paths (idempotent: run it again, nothing doubles)."""
    from starter.demo import feed_order_volumes, play

    store = open_store(current_settings())

    async def work(client: CaseClient) -> None:
        render.demo(out, await play(client, store))

    _run(work)
    feed_order_volumes(store, datetime.now(UTC).date())


def main() -> None:
    """The console script. It ends with os._exit, after flushing, so that the SDK's runtime threads
    cannot crash interpreter teardown: temporalio/sdk-python#300 ("PyGILState_Release … finalizing"),
    which here turned about one successful command in four into an abort with a non-zero exit code."""
    try:
        with _plain_errors():  # refusals and bad input from every command, as one line and exit code 2
            read_once(Settings())
            app()
        code = 0
    except typer.Exit as exit_:
        code = exit_.exit_code
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
