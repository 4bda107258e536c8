"""One error type at the client: a command whose input fails its model and one the rules refuse both
raise CaseRefused with the field and the precise rule."""

from __future__ import annotations

import pytest

from cases.messages import ReturnShipped, SellerResponse
from cases.model import Reason, Resolution
from starter.client import CaseRefused, NewCase, checked
from tests.factories import CARRIER, SELLER, order


def test_a_missing_amount_names_the_amount_and_its_rule():
    with pytest.raises(CaseRefused) as refused:
        checked(SellerResponse, by=SELLER, resolution=Resolution.PARTIAL_REFUND)
    assert (refused.value.field, refused.value.rule) == ("amount", "required when resolution is partial_refund")


def test_a_missing_tracking_number_and_a_field_of_the_wrong_type_are_named():
    with pytest.raises(CaseRefused) as refused:
        checked(ReturnShipped, by=CARRIER)
    assert refused.value.field == "tracking_number" and refused.value.rule == "Field required"


def test_an_email_as_an_id_is_refused_by_field_and_every_problem_is_kept():
    with pytest.raises(CaseRefused) as refused:
        typed = order().model_dump() | {"buyer_id": "jane@example.com", "seller_id": "x y"}
        checked(NewCase, request_id="r-1", reason=Reason.DEFECTIVE, order=typed)
    fields = [field for field, _ in refused.value.problems]
    assert fields == ["order.seller_id", "order.buyer_id"] and refused.value.field == "order.seller_id"


def test_valid_input_is_the_model():
    assert checked(SellerResponse, by=SELLER, resolution=Resolution.FULL_REFUND).resolution is Resolution.FULL_REFUND
