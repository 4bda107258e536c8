"""The payment provider fails the way real ones do (tests/../activities/provider_double.py): a refund
still moves money exactly once, a permanent rejection goes to support with the reason, and retries stop
while the provider still remembers the idempotency key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.payments import GatewayRejection, GatewayUnavailable
from activities.provider_double import Faults, ProviderDouble
from cases.messages import SellerResponse
from cases.model import Outcome, Resolution, Status
from tests.conftest import worker_for
from tests.factories import SELLER, eur
from tests.workflows.test_workflow import final_view, open_case
from workflows.refund_case import REFUND_RETRIES_FOR

FULL_REFUND = SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND)


class Counted(ProviderDouble):
    """The double, counting calls; `down` answers 503 to every call while it is set."""

    def __init__(self, url: str, **kwargs):
        super().__init__(url, **kwargs)
        self.calls = 0
        self.down = False

    def refund(self, *args):
        self.calls += 1
        if self.down:
            raise GatewayUnavailable("503 from the provider")
        return super().refund(*args)


@pytest.fixture
def provider(tmp_path):
    def make(**faults) -> Counted:
        return Counted(f"sqlite:///{tmp_path}/provider.db", faults=Faults(**faults), seed=7)

    return make


# ------------------------------------------------------------------------------ the double itself


def test_the_double_replays_the_first_response_and_forgets_keys_after_retention(provider):
    clock = [datetime(2026, 11, 2, tzinfo=UTC)]
    double = provider()
    double.clock = lambda: clock[0]
    first = double.refund("c:refund:1", "c", 1, eur(100))
    again = double.refund("c:refund:1", "c", 1, eur(100))
    assert (first.first_call, again.first_call, again.gateway_ref) == (True, False, first.gateway_ref)
    assert double.payments_per_key() == {"c:refund:1": 1}
    clock[0] += timedelta(hours=25)  # past the 24 h retention the key is new again: money moves twice
    double.refund("c:refund:1", "c", 1, eur(100))
    assert double.payments_per_key() == {"c:refund:1": 2}


def test_the_double_rejects_for_good_and_says_so_again_on_a_repeat(provider):
    double = provider(reject_amount=1313)
    for _ in range(2):
        with pytest.raises(GatewayRejection, match="402 charge_disputed"):
            double.refund("c:refund:1", "c", 1, eur(1313))
    assert double.payments_per_key() == {}


def test_a_timeout_after_commit_has_moved_the_money(provider):
    double = provider(timeout_after_commit=1.0)
    with pytest.raises(GatewayUnavailable, match="timeout"):
        double.refund("c:refund:1", "c", 1, eur(100))
    assert double.payments_per_key() == {"c:refund:1": 1}
    assert double.refund("c:refund:1", "c", 1, eur(100)).first_call is False


def test_refund_retries_end_well_before_the_provider_forgets_the_key(provider):
    assert provider().key_retention / 2 >= REFUND_RETRIES_FOR


# --------------------------------------------------------------------------------- live workflows


@pytest.mark.workflow
async def test_transient_errors_are_retried_with_backoff_and_refund_once(module_env, store, provider):
    double = provider(unavailable=0.5)
    async with worker_for(module_env, store, gateway=double) as h:
        case_ids = [await open_case(h) for _ in range(6)]
        for case_id in case_ids:  # as signals, so that the backoffs pass in skipped time while final_view waits
            await h.client.send(case_id, FULL_REFUND, wait=False)
        for case_id in case_ids:
            assert (await final_view(h, case_id)).outcome is Outcome.REFUNDED_FULL
    per_key = double.payments_per_key()
    assert per_key == {f"{case_id}:refund:1": 1 for case_id in case_ids}
    assert double.calls > len(case_ids), "with half the calls failing, some refunds needed a retry"


async def _full_refund_through(env, store, double: Counted):
    """One case, answered by the seller with a full refund, through `double`."""
    async with worker_for(env, store, gateway=double) as h:
        case_id = await open_case(h)
        return case_id, await h.client.send(case_id, FULL_REFUND)


@pytest.mark.workflow
async def test_a_timeout_after_the_money_moved_is_retried_with_the_same_key_and_moves_it_once(module_env, store, provider):
    double = provider(timeout_after_commit=1.0)
    case_id, shown = await _full_refund_through(module_env, store, double)
    assert shown.outcome is Outcome.REFUNDED_FULL
    assert double.calls == 2
    assert double.payments_per_key() == {f"{case_id}:refund:1": 1}


@pytest.mark.workflow
async def test_a_permanent_rejection_stops_retrying_and_sends_the_case_to_support_with_the_reason(module_env, store, provider):
    double = provider(reject_amount=4500)
    _, shown = await _full_refund_through(module_env, store, double)
    assert double.calls == 1
    assert shown.status is Status.AWAITING_SUPPORT
    assert shown.refunded == eur(0) and shown.charged_to_seller == eur(0)  # the seller's charge is reversed
    assert [r.status for r in shown.refunds] == ["failed"]
    failed = [entry.summary for entry in shown.timeline if entry.kind == "refund_failed"]
    assert failed == ["refund 1 of 45.00 EUR failed: the payment provider rejected it: 402 charge_disputed: the original charge is disputed"]
    assert double.payments_per_key() == {}


@pytest.mark.workflow
async def test_retries_stop_at_their_bound_and_the_refund_stays_pending(quiet_cases, tmp_path):
    env, store = quiet_cases.env, quiet_cases.store
    double = Counted(f"sqlite:///{tmp_path}/down.db")
    double.down = True
    async with worker_for(env, store, gateway=double) as h:
        case_id = await open_case(h)
        await h.client.send(case_id, FULL_REFUND, wait=False)
        await env.sleep(REFUND_RETRIES_FOR + timedelta(hours=1))
        tried = double.calls
        await env.sleep(timedelta(hours=24))
        shown = await h.client.show(case_id)
    assert tried > 10, "the refund was retried with backoff while the provider was down"
    assert double.calls == tried, "no call after the bound: the key cannot have been forgotten by then"
    assert shown.status is Status.REFUND_PENDING and [r.status for r in shown.refunds] == ["requested"]
    assert double.payments_per_key() == {}
