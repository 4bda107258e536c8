"""A seller's account, as cases leave it. A case unresolved too long flags its seller; resolving the
case does not lift the flag (seed 001: "your account privileges will not be restored automatically;
contact support to request reinstatement"): support reinstates the seller, once every case that
flagged it is resolved."""

from __future__ import annotations

from cases.model import Status
from cases.refusal import Refusal


def check_reinstatement(seller_id: str, flagging: dict[str, Status]) -> None:
    """Whether support may reinstate `seller_id` now; `flagging` holds the status of each case whose
    flag on the seller is not lifted. Raises Refusal naming the field and the rule."""
    if not flagging:
        raise Refusal("seller_id", f"{seller_id} is not flagged by any case")
    unresolved = sorted(case_id for case_id, status in flagging.items() if status is not Status.CLOSED)
    if unresolved:
        raise Refusal("seller_id", f"case(s) {', '.join(unresolved)} flagging {seller_id} are not resolved yet; resolve them first")
