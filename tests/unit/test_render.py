"""How cases look in a terminal: `refund-cases list` keeps every id whole at any width, and says which
columns did not fit."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from starter import render

ROW = {
    "case_id": "1cd1ac83-208f-57d6-97e1-561beeaea97c",
    "CaseStatus": "awaiting_seller_response",
    "AwaitingParty": "seller",
    "ResponseDueAt": datetime(2026, 12, 3, 9, 30, tzinfo=UTC),
    "CaseReason": "not_as_described",
    "OrderId": "ord-1001",
    "SellerId": "seller-42",
}


def listed(width: int) -> str:
    out = Console(file=io.StringIO(), width=width)
    render.case_list(out, [ROW, {**ROW, "case_id": "7d7c98e8-7deb-5667-82b5-a0fb23f9ad94"}])
    return out.file.getvalue()


@pytest.mark.parametrize(
    ("width", "hidden"),
    [(80, "due (UTC), reason, order, seller"), (120, "order, seller"), (160, None)],
)
def test_a_list_shows_the_columns_that_fit_whole_and_names_the_others(width, hidden):
    text = listed(width)
    assert ROW["case_id"] in text and "7d7c98e8-7deb-5667-82b5-a0fb23f9ad94" in text
    assert max(len(line) for line in text.splitlines()[:-2]) <= width
    if hidden:
        assert f"2 case(s); not shown at this width: {hidden}" in text.replace("\n", " ")
    else:
        assert "seller-42" in text and "not shown" not in text
