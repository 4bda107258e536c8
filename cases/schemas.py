"""JSON Schemas of everything a backend in another language sends to or reads from a case workflow
through its own Temporal SDK: the workflow input and result, each update and signal, the query."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

from cases.messages import Decision, Fact, OpenCase, PartyMessage, kind_of
from cases.view import CaseView


def documents() -> dict[str, dict[str, Any]]:
    """File name -> schema. Inputs are described as they are validated, results as they are sent."""
    docs: dict[str, dict[str, Any]] = {
        "workflow.RefundCase.input.json": OpenCase.model_json_schema(mode="validation"),
        "workflow.RefundCase.result.json": CaseView.model_json_schema(mode="serialization"),
        "query.case.result.json": CaseView.model_json_schema(mode="serialization"),
    }
    for model in (*get_args(Decision), PartyMessage):
        schema = model.model_json_schema(mode="validation")
        docs[f"update.{kind_of(model)}.input.json"] = schema
        docs[f"signal.{kind_of(model)}.input.json"] = schema
    for model in get_args(Fact):
        docs[f"signal.{kind_of(model)}.input.json"] = model.model_json_schema(mode="validation")
    docs["update.result.json"] = CaseView.model_json_schema(mode="serialization")
    return docs


def write(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in documents().items():
        path = folder / name
        path.write_text(json.dumps({"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}, indent=2) + "\n")
        written.append(path)
    return written
