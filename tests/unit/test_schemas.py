"""`refund-cases schema`: a JSON Schema per workflow input, update, signal and query result, which real
payloads satisfy and malformed ones do not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import get_args

import jsonschema_rs
import pytest
from pydantic import ValidationError

from cases.engine import open_case
from cases.messages import Decision, Fact, OpenCase, PartyMessage, ReturnShipped, SellerResponse
from cases.model import Resolution
from cases.view import view
from tests.factories import CARRIER, SELLER, T0, request

BIN = Path(sys.executable).parent


def test_the_schema_command_writes_one_schema_per_message_and_result(tmp_path):
    done = subprocess.run([str(BIN / "refund-cases"), "schema", "--out", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    names = sorted(p.name for p in tmp_path.glob("*.json"))
    spoken, facts = (*get_args(Decision), PartyMessage), get_args(Fact)
    assert len(names) == 4 + 2 * len(spoken) + len(facts)  # opening, result, query, update result; each kind's
    for kind in ("seller_response", "buyer_answer", "refund_confirmation", "support_decision", "message", "reopening"):
        assert f"update.{kind}.input.json" in names and f"signal.{kind}.input.json" in names
    for fact in ("return_shipped", "return_delivered", "refund_settled", "refund_failed"):
        assert f"signal.{fact}.input.json" in names and f"update.{fact}.input.json" not in names
    schema = lambda name: jsonschema_rs.validator_for(json.loads((tmp_path / name).read_text()))  # noqa: E731

    response = SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND, request_id="portal-1").model_dump(mode="json")
    assert schema("update.seller_response.input.json").is_valid(response)
    assert not schema("update.seller_response.input.json").is_valid({**response, "resolution": "maybe"})
    assert not schema("update.seller_response.input.json").is_valid({"resolution": "full_refund"})  # no sender
    shipped = ReturnShipped(by=CARRIER, tracking_number="RET-12345").model_dump(mode="json")
    assert schema("signal.return_shipped.input.json").is_valid(shipped)
    opening = request()
    assert schema("workflow.RefundCase.input.json").is_valid(opening.model_dump(mode="json"))
    assert schema("query.case.result.json").is_valid(view(open_case(opening, T0).case).model_dump(mode="json"))


def test_an_unknown_field_is_refused_by_the_schemas_and_by_the_models(tmp_path):
    """`requestId` (camel case) once passed the schema, the TypeScript types and the worker, was
    dropped, and the same message sent twice acted twice."""
    done = subprocess.run([str(BIN / "refund-cases"), "schema", "--out", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    schema = lambda name: jsonschema_rs.validator_for(json.loads((tmp_path / name).read_text()))  # noqa: E731
    response = SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND).model_dump(mode="json")
    camel = {**response, "requestId": "portal-1"}
    assert not schema("update.seller_response.input.json").is_valid(camel)
    with pytest.raises(ValidationError, match="requestId"):
        SellerResponse.model_validate(camel)
    opening = request().model_dump(mode="json")
    for where, changed in {
        "the opening": {**opening, "policyName": "direct_service"},
        "its order": {**opening, "order": {**opening["order"], "sellerName": "x"}},
        "an item": {**opening, "order": {**opening["order"], "items": [{**opening["order"]["items"][0], "discount": 1}]}},
        "an amount": {**opening, "order": {**opening["order"], "shipping_paid": {**opening["order"]["shipping_paid"], "cents": 1}}},
        "the policy": {**opening, "policy": {**opening["policy"], "refund_all": True}},
    }.items():
        assert not schema("workflow.RefundCase.input.json").is_valid(changed), where
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            OpenCase.model_validate(changed)
