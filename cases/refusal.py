"""The one error the rules raise."""

from __future__ import annotations


class Refusal(ValueError):
    """A message the rules refuse, naming the field and the rule it broke."""

    def __init__(self, field_name: str, rule: str):
        self.field = field_name
        self.rule = rule
        super().__init__(f"{field_name}: {rule}")
