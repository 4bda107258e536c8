"""Negative controls for the replay checks: a case workflow whose commands depend on when a local
activity's result reaches it, and case views slow enough to build that the effects of a transition
finish first. Run by the tests and by `make chaos --control`, never in production.

    .venv/bin/python -m bench.controls   # a worker process, as `python -m worker`, with both
"""

from __future__ import annotations

import time

from temporalio import client, workflow
from temporalio.common import RawValue
from temporalio.worker import Interceptor, WorkflowInboundInterceptor

from activities.case_activities import CaseActivities, Effects
from cases.view import CaseView
from workflows.refund_case import ACTIVITY_TIMEOUT, RETRY, RefundCaseWorkflow

QUERY_SECONDS = 0.3


@workflow.defn(name="RefundCase", sandboxed=False)
class EffectsInALocalActivity(RefundCaseWorkflow):
    """Today's case with its effects in a local activity, as before 1.0. A query that comes with a
    workflow task lets the SDK end that task once the local activity is done and hand its result over
    only in the next task; a replay finds the result at once, so the timer the case armed before it
    meets a different next command."""

    @workflow.run
    async def run(self, opening: RawValue) -> CaseView:
        return await super().run(opening)

    async def _write(self, effects: Effects) -> None:
        await workflow.execute_local_activity_method(
            CaseActivities.apply_effects, effects, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=RETRY, summary=effects.summary()
        )


class _SlowQueries(WorkflowInboundInterceptor):
    def handle_query(self, input):
        time.sleep(QUERY_SECONDS)
        return super().handle_query(input)


class SlowQueries(client.Interceptor, Interceptor):
    """Case views that take a while to build (a large case's do). On a client, so on its workers too."""

    def workflow_interceptor_class(self, input):
        return _SlowQueries


if __name__ == "__main__":
    import worker

    worker.main(EffectsInALocalActivity, [SlowQueries()])
