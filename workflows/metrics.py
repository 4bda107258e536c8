"""The case counters operators watch: opened, closed by outcome, refunds, escalations, missed deadlines.

They go through the SDK's metric meter, so the worker's Prometheus endpoint serves them beside the SDK's
own metrics, and the SDK drops them while a case is replayed: a transition is counted once, on the run
that first took it. Labels hold policy names, outcomes, statuses and currencies only, never ids."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from cases.case import Case
    from cases.commands import IssueRefund, OpenSupportTicket
    from cases.engine import Transition


class CaseMetrics:
    def __init__(self) -> None:
        meter = workflow.metric_meter()
        self.opened = meter.create_counter("refund_cases_opened", "Cases opened.")
        self.closed = meter.create_counter("refund_cases_closed", "Cases closed, by outcome.")
        self.refunds = meter.create_counter("refund_cases_refunds", "Refunds issued.")
        self.refunded = meter.create_counter("refund_cases_refunded_minor_units", "Money refunded, in minor units of the currency.")
        self.escalations = meter.create_counter("refund_cases_escalations", "Cases handed to support (support tickets opened).")
        self.deadline_misses = meter.create_counter("refund_cases_deadline_misses", "Windows that ended with the awaited party silent.")

    def case_opened(self, case: Case) -> None:
        self.opened.add(1, {"policy": case.policy.name})

    def transition(self, before: Case, transition: Transition) -> None:
        after = transition.case
        policy = after.policy.name
        if after.is_closed and not before.is_closed:
            self.closed.add(1, {"policy": policy, "outcome": after.outcome.value if after.outcome else "none"})
        for command in transition.commands:
            if isinstance(command, IssueRefund):
                self.refunds.add(1, {"policy": policy, "currency": command.amount.currency})
                self.refunded.add(command.amount.amount, {"currency": command.amount.currency})
            elif isinstance(command, OpenSupportTicket):
                self.escalations.add(1, {"policy": policy})

    def deadline_missed(self, case: Case, status: str) -> None:
        self.deadline_misses.add(1, {"policy": case.policy.name, "status": status})
