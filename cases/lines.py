"""What a case concerns: lines of its order and how many of their units. A case may refund the
value of those units (cases.model.Order.value_of); two cases of one order never cover the same unit."""

from __future__ import annotations

from cases.model import CaseLine, Order, Outcome
from cases.refusal import Refusal

# A case that closed without anything given or decided for its units: another case may take them.
RELEASES_UNITS = frozenset({Outcome.WITHDRAWN.value, Outcome.INELIGIBLE.value})


def check_lines(order: Order, lines: list[CaseLine] | None) -> list[CaseLine]:
    """The lines a case concerns, each with its quantity: every unit of every line when `lines` is
    None. Raises Refusal naming the line: one the order does not have, a line named twice, more units
    than the line has."""
    if lines is None:
        return [CaseLine(sku=item.sku, quantity=item.quantity) for item in order.items]
    named: list[CaseLine] = []
    for n, line in enumerate(lines):
        item = order.item(line.sku)
        if item is None:
            raise Refusal(f"lines[{n}].sku", f"the order has no line {line.sku}")
        if any(other.sku == line.sku for other in named):
            raise Refusal(f"lines[{n}].sku", f"line {line.sku} is named twice; give its units in one entry")
        if line.quantity is not None and line.quantity > item.quantity:
            raise Refusal(f"lines[{n}].quantity", f"line {line.sku} has {item.quantity} unit(s)")
        named.append(CaseLine(sku=line.sku, quantity=line.quantity or item.quantity))
    return named


def check_units_free(order: Order, lines: list[CaseLine], held: dict[str, int], field: str = "lines") -> None:
    """Whether the units `lines` name are free: `held` is how many units of each line the order's other
    cases hold. Raises Refusal naming the first line whose units another case already covers."""
    for n, line in enumerate(lines):
        item = order.item(line.sku)
        units, taken = (item.quantity if item else 0), held.get(line.sku, 0)
        if (line.quantity or 0) > units - taken:
            rule = f"{taken} of the {units} unit(s) of line {line.sku} are in another case of the order; {max(units - taken, 0)} free"
            raise Refusal(f"{field}[{n}].quantity", rule)
