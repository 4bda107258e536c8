"""How cases look in a terminal."""

from __future__ import annotations

from rich.console import Console
from rich.panel import Panel
from rich.table import Column, Table

from cases.view import CaseView


def case(out: Console, view: CaseView) -> None:
    head = (
        f"[bold]{view.status.value}[/bold]"
        + (f" ({view.outcome.value})" if view.outcome else "")
        + (f" · {view.label}" if view.label not in (view.status.value, view.outcome) else "")
        + f"\n{view.waiting_for}\n"
        + f"{view.kind.value} · reason {view.reason.value} · policy {view.policy} {view.policy_version}\n"
        + f"order {view.order_id} · seller {view.seller_id} · buyer {view.buyer_id} · {view.routing_note}\n"
        + (
            f"concerns {', '.join(f'{line.quantity} x {line.sku}' for line in view.lines)} · covers {view.covered}\n"
            if view.covered != view.total_paid
            else ""
        )
        + f"paid {view.total_paid} · refunded {view.refunded} · refundable {view.refundable}"
        + f" · charged to seller {view.charged_to_seller}"
        + (f"\nprotected until {view.protected_until:%Y-%m-%d %H:%M} UTC" if view.protected_until else "")
        + ("\n[red]this case flags its seller[/red]" if view.seller_flagged else "")
        + (f"\nreopened {view.reopened} time(s)" if view.reopened else "")
    )
    out.print(Panel(head, title=f"case {view.case_id}", subtitle=f"version {view.version}", expand=False))
    if view.may:
        may = Table("party", "may now", title="options", title_justify="left")
        for party, kinds in view.may.items():
            may.add_row(party.value, ", ".join(kinds))
        out.print(may)
    if view.offers:
        offers = Table("at", "resolution", "amount", "tracking", "answer", title="offers", title_justify="left")
        for offer in view.offers:
            offers.add_row(
                f"{offer.at:%Y-%m-%d %H:%M}", offer.resolution.value, str(offer.amount or ""), offer.tracking_number or "", offer.answer or ""
            )
        out.print(offers)
    if view.evidence:
        files = Table("by", "kind", "type", "bytes", Column("digest", overflow="fold"), "caption", title="evidence", title_justify="left")
        for item in view.evidence:
            files.add_row(str(item.added_by), item.kind.value, item.media_type, str(item.size), item.digest, item.caption or "")
        out.print(files)
    timeline = Table("#", "at (UTC)", "by", "what", title="timeline", title_justify="left")
    for entry in view.timeline:
        what = f"[red]refused[/red] {entry.summary}" if entry.refused else entry.summary
        timeline.add_row(str(entry.seq), f"{entry.at:%Y-%m-%d %H:%M:%S}", str(entry.actor), what)
    out.print(timeline)


def case_list(out: Console, rows: list[dict]) -> None:
    """One line per case, with as many columns as the terminal holds whole: ids are never cut, and
    the columns left out are named."""
    columns = {
        "case": [row["case_id"] for row in rows],
        "status": [row.get("CaseStatus") or "" for row in rows],
        "awaiting": [row.get("AwaitingParty") or "" for row in rows],
        "due (UTC)": [f"{due:%Y-%m-%d %H:%M}" if (due := row.get("ResponseDueAt")) else "" for row in rows],
        "reason": [row.get("CaseReason") or "" for row in rows],
        "order": [row.get("OrderId") or "" for row in rows],
        "seller": [row.get("SellerId") or "" for row in rows],
    }
    shown: list[str] = []
    width = 1
    for header, cells in columns.items():
        width += max(map(len, [header, *cells])) + 3  # a cell's padding and its border
        if shown and width > out.width:
            break
        shown.append(header)
    table = Table(*shown)
    for column in table.columns:
        column.no_wrap = True
    for line in zip(*(columns[header] for header in shown), strict=True):
        table.add_row(*line)
    out.print(table)
    hidden = [header for header in columns if header not in shown]
    out.print(f"{len(rows)} case(s)" + (f"; not shown at this width: {', '.join(hidden)} (--json has them)" if hidden else ""))


def demo(out: Console, played: list[tuple[str, str, str]]) -> None:
    table = Table("case", "path", "now", title="demo cases", title_justify="left")
    for row in played:
        table.add_row(*row)
    out.print(table)
