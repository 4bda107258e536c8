"""The `refund-cases` commands that read and write the case store: KPIs, payouts, the order-volume feed,
flagged sellers, and reconciliation with the workflows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cases.money import Money
from starter.command_context import current_settings, open_store
from store import queries
from store.database import Store

out = Console()
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
store_app = typer.Typer(help="The case store: reconciliation with the workflows.", no_args_is_help=True)


def _emit(as_json: bool, data: Any, table: Table | str) -> None:
    if as_json:
        out.print_json(json.dumps(data, default=str))
    else:
        out.print(table)


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} h"


def report(
    days: Annotated[int, typer.Option(help="The cases opened in this many days up to now.")] = 30,
    as_json: JsonOpt = False,
) -> None:
    """KPIs: resolution rate, time to resolve (average, p90), requests reviewed for refund abuse,
    reasons, issue rate per seller (over 5 % flagged), sellers with cases past their deadline."""
    now = datetime.now(UTC)
    shown = queries.report(open_store(current_settings()), now - timedelta(days=days), now, now)
    data = shown.as_dict()
    if as_json:
        _emit(True, data, "")
        return
    rate = "—" if shown.resolution_rate is None else f"{shown.resolution_rate:.0%}"
    summary = Table(
        "opened", "resolved", "resolution rate", "average to resolve", "p90 to resolve", "reviewed for refund abuse",
        title=f"cases opened in the last {days} days",
    )  # fmt: skip
    summary.add_row(str(shown.opened), str(shown.resolved), rate, _hours(shown.average_hours), _hours(shown.p90_hours), str(shown.reviewed))
    reasons = Table("reason", "cases", title="reasons")
    for reason, count in sorted(shown.reasons.items(), key=lambda item: -item[1]):
        reasons.add_row(reason, str(count))
    sellers = Table("seller", "cases", "orders", "issue rate", "", title="issue rate per seller (cases per order; over 5 % loses ranking)")
    for r in shown.issue_rates:
        sellers.add_row(
            r.seller_id,
            str(r.cases),
            str(r.orders),
            "no orders reported" if not r.orders else f"{r.rate:.1%}",
            "[red]over 5 %[/red]" if r.over_limit else "",
        )
    overdue = Table("seller", "cases past their deadline", title="sellers with unresolved cases past their deadline")
    for seller, count in shown.overdue.items():
        overdue.add_row(seller, str(count))
    for table in (summary, reasons, sellers, overdue):
        out.print(table)


def payouts(
    seller_id: Annotated[str | None, typer.Option("--seller", help="Only this seller's orders.")] = None,
    order_id: Annotated[str | None, typer.Option("--order", help="One order: its cases and payout state.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Payout holds: orders held while a case on them is open (or one order's cases and payout state)."""
    store = open_store(current_settings())
    if order_id is not None:
        state = queries.order_state(store, order_id)
        data = {"order_id": order_id, "payout": state.payout_state, "cases": [{"case_id": c.case_id, "status": c.status} for c in state.cases]}
        table = Table("case", "status", title=f"order {order_id}: {state.payout_state}")
        for c in state.cases:
            table.add_row(c.case_id, c.status)
        _emit(as_json, data, table)
        return
    holds = queries.payout_holds(store, seller_id)
    held = [{"order_id": h.order_id, "seller_id": h.seller_id, "held_since": h.held_at} for h in holds]
    table = Table("order", "seller", "held since (UTC)", title="payouts held")
    for h in holds:
        table.add_row(h.order_id, h.seller_id, f"{h.held_at:%Y-%m-%d %H:%M}")
    _emit(as_json, held, table if holds else "No payout is held.")


def pay_out(
    order_id: Annotated[str, typer.Argument(help="The order to pay out.")],
    seller_id: Annotated[str, typer.Option("--seller", help="The order's seller.")],
    amount: Annotated[str, typer.Option(help="Amount paid out, e.g. 45.00.")],
    currency: Annotated[str, typer.Option(help="ISO currency.")] = "EUR",
) -> None:
    """Record an order's payout to its seller; refused while a case on the order is open."""
    store = open_store(current_settings())
    paid = store.pay_out(order_id, seller_id, Money.parse(amount, currency), datetime.now(UTC))
    out.print(f"order {order_id} paid out: {Money(amount=paid.amount, currency=paid.currency)} on {paid.paid_out_at:%Y-%m-%d %H:%M} UTC")


def order_volume(
    seller_id: Annotated[str, typer.Option("--seller", help="The seller.")],
    day: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="The day, e.g. 2026-11-21.")],
    orders: Annotated[int, typer.Option(help="How many orders the seller had that day.")],
) -> None:
    """Feed a seller's order count for a day (the denominator of issue rates); again replaces it."""
    open_store(current_settings()).record_order_volume(seller_id, day.date(), orders)
    out.print(f"{seller_id}: {orders} order(s) on {day:%Y-%m-%d}")


def flagged_sellers(as_json: JsonOpt = False) -> None:
    """Sellers flagged by cases left unresolved too long, until support reinstates them (`support
    reinstate`): the marketplace may restrict them."""
    flagged = queries.flagged_sellers(open_store(current_settings()))
    rows = [{"seller_id": seller, "flagging_cases": count, "since": since} for seller, count, since in flagged]
    table = Table("seller", "flagging cases", "flagged since")
    for seller, count, since in flagged:
        table.add_row(seller, str(count), f"{since:%Y-%m-%d %H:%M}")
    _emit(as_json, rows, table if rows else "No seller is flagged.")


def register(app: typer.Typer) -> None:
    for command in (report, payouts, pay_out, order_volume, flagged_sellers):
        app.command(command.__name__.replace("_", "-"))(command)
    app.add_typer(store_app, name="store")


@store_app.command("migrate")
def store_migrate() -> None:
    """Bring the case store at DATABASE_URL to the newest migration (a deploy's one-shot job, before
    the workers and the API start)."""
    store = Store(current_settings().database_url)
    store.migrate()
    store.engine.dispose()
    out.print("case store: at the newest migration")
