"""The case store on SQLite and on PostgreSQL: migrations, retry-safe writes, payout holds, queries, KPIs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from cases.engine import apply, open_case
from cases.messages import RefundSettled, SellerResponse, Withdrawal
from cases.model import Reason, Resolution, Status
from cases.refusal import Refusal
from cases.view import view
from store import engine, queries
from store.case_writes import CaseRecord
from store.database import PayoutHeld
from store.schema import Base, CaseRow, GatewayRefundRow, LedgerRow, NotificationRow, PayoutHoldRow, RefundRow, SellerFlagRow, TimelineRow
from tests.factories import BUYER, PAYMENT, SELLER, T0, eur, request

HOUR, SECOND = timedelta(hours=1), timedelta(seconds=1)


def opened(case_id="c-1", at=T0, **changes):
    return open_case(request(case_id=case_id, **changes), at).case


def record(db, case):
    return db.record_case(view(case), case.timeline)


def withdrawn(case, at):
    return apply(case, Withdrawal(by=BUYER), at).case


def test_migrations_build_exactly_the_schema_the_models_declare(db):
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_a_store_made_before_migrations_is_adopted_and_keeps_its_rows(db):
    config = Config()
    config.set_main_option("script_location", "store/migrations")
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")  # the tables as `create_all` made them, without alembic_version
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(
            text(
                "INSERT INTO refunds (idempotency_key, case_id, number, amount, currency, status, gateway_ref, created_at)"
                " VALUES ('old:refund:1', 'old', 1, 4500, 'EUR', 'settled', 're_old', :at)"
            ),
            {"at": T0},
        )
    db.migrate()
    assert db.get(GatewayRefundRow, "old:refund:1").amount == 4500
    with db.engine.connect() as connection:
        head = ScriptDirectory.from_config(config).get_current_head()
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == head


def test_an_older_transition_never_overwrites_a_newer_view_and_a_retry_adds_nothing(db):
    first = opened()
    closed = withdrawn(first, T0 + HOUR)
    assert record(db, closed) is True
    assert record(db, first) is False  # arrives late: ignored
    assert record(db, closed) is False  # retried: nothing new
    assert db.get(CaseRow, "c-1").status == "closed"
    with db.sessions() as session:
        assert len(list(session.scalars(select(TimelineRow).where(TimelineRow.case_id == "c-1")))) == len(closed.timeline)


def test_a_transition_written_again_by_a_later_attempt_of_its_workflow_task_is_the_one_kept(db):
    case = opened()
    record(db, case)
    first_try, retry = withdrawn(case, T0 + HOUR), withdrawn(case, T0 + HOUR + 10 * SECOND)
    record(db, first_try)  # its local activity wrote, then the worker died before the server took the task
    record(db, retry)  # the task again, ten seconds later: the history keeps this one
    assert (db.get(CaseRow, "c-1").closed_at, db.rows(TimelineRow, case_id="c-1", seq=2)[0].at) == (retry.closed_at, retry.closed_at)
    record(db, first_try)  # the stalled first attempt, arriving last
    assert db.get(CaseRow, "c-1").closed_at == retry.closed_at


def test_refunds_are_recorded_as_requested_then_succeeded(db):
    case = apply(opened(), SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND), T0)
    record(db, case.case)
    assert db.get(RefundRow, "c-1:refund:1").status == "requested"
    settled = apply(case.case, RefundSettled(by=PAYMENT, refund_number=1), T0 + HOUR).case
    record(db, settled)
    row = db.get(RefundRow, "c-1:refund:1")
    assert (row.status, row.amount, row.order_id) == ("succeeded", 4500, settled.order.order_id)


def test_an_order_is_held_while_any_case_on_it_is_open_and_paid_out_once_the_last_closes(db):
    first, second = opened("c-1"), opened("c-2")
    second = second.model_copy(update={"order": first.order})
    record(db, first)
    record(db, second)
    order_id = first.order.order_id
    assert queries.order_state(db, order_id).payout_state == "held"
    record(db, withdrawn(first, T0 + HOUR))
    with pytest.raises(PayoutHeld, match=f"order_id: the payout of order {order_id} is held while case.s. c-2 are open"):
        db.pay_out(order_id, first.order.seller_id, eur(4500), T0 + HOUR)
    record(db, withdrawn(second, T0 + 2 * HOUR))
    state = queries.order_state(db, order_id)
    assert (state.payout_state, state.hold.released_at is not None, [c.case_id for c in state.cases]) == ("payable", True, ["c-1", "c-2"])
    db.pay_out(order_id, first.order.seller_id, eur(4500), T0 + 3 * HOUR)
    db.pay_out(order_id, first.order.seller_id, eur(4500), T0 + 4 * HOUR)  # repeated: still one payout
    assert queries.order_state(db, order_id).payout.paid_out_at.replace(tzinfo=None) == (T0 + 3 * HOUR).replace(tzinfo=None)


def test_a_seller_charge_after_the_payout_is_recovered_from_the_next_payout(db):
    case = opened()
    record(db, withdrawn(case, T0))
    db.pay_out(case.order.order_id, case.order.seller_id, eur(4500), T0 + HOUR)
    charge = dict(case_id="c-1", seller_id=SELLER.id, kind="seller_charge", amount=4500, currency="EUR", created_at=T0)
    db.post_ledger_entry(LedgerRow(key="c-1:ledger:1", order_id=case.order.order_id, **charge))
    db.post_ledger_entry(LedgerRow(key="c-9:ledger:1", order_id="ord-not-paid", **charge))
    assert db.get(LedgerRow, "c-1:ledger:1").settled_by == "next_payout"
    assert db.get(LedgerRow, "c-9:ledger:1").settled_by == "seller_balance"


def test_a_seller_flag_stays_when_its_case_closes_support_lifts_it_and_a_reopened_case_raises_it_again(db):
    """Closing does not lift the flag (seed 001); support's reinstatement does, once the case is
    resolved; a reopened case that flags the seller again raises it again; a reopened case holds its
    order's payout again."""
    shown = view(opened())
    db.record_case(shown, shown.timeline)
    version = shown.version

    def step(at, **changes):
        nonlocal version
        version += 1
        entry = shown.timeline[-1].model_copy(update={"seq": shown.timeline[-1].seq + version, "at": at})
        assert db.record_case(shown.model_copy(update={**changes, "version": version, "timeline": [*shown.timeline, entry]}), [entry])
        flag, hold = db.get(SellerFlagRow, "c-1"), db.get(PayoutHoldRow, shown.order_id)
        return (flag.raised_at, flag.lifted_at, flag.lifted_by, hold.released_at)

    flagged = {"seller_flagged": True, "seller_flagged_at": T0 + HOUR}
    assert step(T0 + HOUR, **flagged) == (T0 + HOUR, None, None, None)
    with pytest.raises(Refusal, match="seller_id: case.s. c-1 flagging seller-7 are not resolved yet"):
        db.reinstate_seller(SELLER.id, "agent-1", T0 + HOUR)
    assert step(T0 + 2 * HOUR, status=Status.CLOSED, **flagged) == (T0 + HOUR, None, None, T0 + 2 * HOUR)
    assert db.reinstate_seller(SELLER.id, "agent-1", T0 + 3 * HOUR) == ["c-1"]
    assert [n.event for n in db.rows(NotificationRow, case_id="c-1", party="seller")] == ["seller_reinstated"]
    assert step(T0 + 4 * HOUR, status=Status.CLOSED, **flagged) == (
        T0 + HOUR,
        T0 + 3 * HOUR,
        "agent-1",
        T0 + 2 * HOUR,
    )  # a later write of the closed case
    again = {"seller_flagged": True, "seller_flagged_at": T0 + 6 * HOUR}
    assert step(T0 + 5 * HOUR, status=Status.AWAITING_SUPPORT, **flagged) == (T0 + HOUR, T0 + 3 * HOUR, "agent-1", None)
    assert step(T0 + 6 * HOUR, status=Status.AWAITING_SUPPORT, **again) == (T0 + 6 * HOUR, None, None, None)
    with pytest.raises(Refusal, match="seller_id: seller-9 is not flagged by any case"):
        db.reinstate_seller("seller-9", "agent-1", T0)


def test_two_cases_closing_at_once_release_their_order(db):
    cases = [opened(f"c-{n}") for n in range(6)]
    cases = [c.model_copy(update={"order": cases[0].order}) for c in cases]
    for case in cases:
        record(db, case)
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda c: record(db, withdrawn(c, T0 + HOUR)), cases))
    assert db.get(PayoutHoldRow, cases[0].order.order_id).released_at is not None


def test_a_sellers_queue_is_ordered_by_due_time_filtered_and_paged_by_key(db):
    for n in range(7):
        record(db, opened(f"q-{n}", at=T0 + n * HOUR, order_id=f"ord-q-{n}", seller_id="seller-q"))
    record(db, opened("q-other", reason=Reason.MISSING_ITEM, order_id="ord-q-x", seller_id="seller-q"))
    record(db, withdrawn(opened("q-closed", order_id="ord-q-y", seller_id="seller-q"), T0))
    pages, after = [], None
    while True:
        page = queries.seller_queue(db, "seller-q", reason="defective", after=after, limit=3)
        pages.append([row.case_id for row in page.cases])
        if page.next_after is None:
            break
        after = page.next_after
    assert pages == [["q-0", "q-1", "q-2"], ["q-3", "q-4", "q-5"], ["q-6"]]
    assert [r.case_id for r in queries.seller_queue(db, "seller-q", reason="missing_item").cases] == ["q-other"]


def test_a_buyers_cases_newest_first(db):
    for n in range(3):
        record(db, opened(f"b-{n}", at=T0 + n * HOUR, buyer_id="buyer-b"))
    assert [row.case_id for row in queries.buyer_cases(db, "buyer-b")] == ["b-2", "b-1", "b-0"]


def test_the_kpi_report(db):
    # Ten cases of seller-a over ten days, resolved after 1..9 hours (one still open and overdue);
    # one case of seller-b. Order volumes: seller-a 100 orders (10 %), seller-b 50 (2 %).
    for n in range(10):
        case = opened(f"k-{n}", at=T0 + n * 24 * HOUR, seller_id="seller-a", reason=Reason.DEFECTIVE if n % 2 else Reason.WRONG_ITEM)
        record(db, withdrawn(case, T0 + n * 24 * HOUR + (n + 1) * HOUR) if n < 9 else case)
    record(db, opened("k-b", at=T0, seller_id="seller-b"))
    for day in range(10):
        db.record_order_volume("seller-a", (T0 + timedelta(days=day)).date(), 10)
        db.record_order_volume("seller-b", (T0 + timedelta(days=day)).date(), 5)
    db.record_order_volume("seller-b", T0.date(), 5)  # sent again: replaces, never adds
    shown = queries.report(db, T0, T0 + timedelta(days=10), now=T0 + timedelta(days=30))
    assert (shown.opened, shown.resolved) == (11, 9)
    assert shown.resolution_rate == pytest.approx(9 / 11)
    assert shown.average_hours == pytest.approx(5.0)  # 1..9 hours
    assert shown.p90_hours == pytest.approx(9.0)  # nearest rank: ceil(0.9 * 9) = 9th of 1..9
    assert shown.reasons == {"defective": 5 + 1, "wrong_item": 5}
    assert [(r.seller_id, r.cases, r.orders) for r in shown.issue_rates] == [("seller-a", 10, 100), ("seller-b", 1, 50)]
    assert [r.seller_id for r in shown.sellers_over_limit] == ["seller-a"]
    assert shown.overdue == {"seller-a": 1, "seller-b": 1}


def test_order_volumes_refuse_a_negative_count(db):
    with pytest.raises(ValueError, match="orders: must not be negative"):
        db.record_order_volume("seller-a", date(2026, 11, 2), -1)


def _notice(number: int) -> NotificationRow:
    return NotificationRow(
        key=f"c-1:notice:{number}", case_id="c-1", party="buyer", recipient_id="b-1", event="opened", body="Opened.", created_at=T0
    )


def test_a_transitions_effects_are_one_transaction_that_a_retry_repeats_without_adding(db):
    case = opened()
    first = db.write_effects([_notice(1), _notice(2)], CaseRecord(view=view(case), new_entries=case.timeline))
    assert [row.key for row in first.inserted] == ["c-1:notice:1", "c-1:notice:2"] and first.recorded
    again = db.write_effects([_notice(1), _notice(2)], CaseRecord(view=view(case), new_entries=case.timeline))
    assert again.inserted == [] and not again.recorded and not again.deliveries
    assert len(db.rows(NotificationRow, case_id="c-1")) == 2
    assert db.get(PayoutHoldRow, case.order.order_id).released_at is None  # the first case of the order created the hold


def test_a_concurrent_writer_that_stores_a_key_first_makes_the_effects_run_again_not_fail(db, monkeypatch):
    """Another worker writes notice 1 between our check and our insert: the unique key refuses ours,
    and the transaction runs once more, finds it, and writes the rest."""
    case = opened()
    checked = engine._stored_keys

    def racing(session, model, keys):
        stored = checked(session, model, keys)
        if model is NotificationRow and not db.rows(NotificationRow, key="c-1:notice:1"):
            db.insert_once(_notice(1))  # the other writer, committed in its own transaction
        return stored

    monkeypatch.setattr(engine, "_stored_keys", racing)
    written = db.write_effects([_notice(1), _notice(2)], CaseRecord(view=view(case), new_entries=case.timeline))
    assert [row.key for row in written.inserted] == ["c-1:notice:2"] and written.recorded
    assert sorted(row.key for row in db.rows(NotificationRow, case_id="c-1")) == ["c-1:notice:1", "c-1:notice:2"]
    assert db.get(CaseRow, "c-1") is not None
