"""The case store at marketplace size: 1,000,000 cases over 10,000 sellers, on SQLite and on PostgreSQL.

Measures a seller's portal listing (the first page of the cases waiting on them, soonest due first:
p50 and p99 over 1,000 queries of random sellers, and the same for a page deep in a seller's queue)
and the KPI report over the last 30 days (median of 5 runs). Goals, on PostgreSQL: listing p99 under
10 ms, KPI report under 1 s. Writes bench/results/store.json and prints it.

    make bench-store                 # both databases, 1,000,000 cases
    .venv/bin/python -m bench.store_bench --cases 100000 --databases sqlite
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from devserver.throwaway_postgres import ThrowawayPostgres
from store import queries
from store.database import Store
from store.schema import CaseRow, OrderVolumeRow

RESULTS = Path(__file__).parent / "results" / "store.json"
NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)
REASONS = ["not_received", "shipped_late", "missing_item", "wrong_item", "not_as_described", "defective", "damaged_in_transit"]
# Half the open cases wait on the seller.
OPEN = [("awaiting_seller_response", "seller")] * 3 + [
    ("awaiting_support", "support"),
    ("awaiting_offer_answer", "buyer"),
    ("return_in_transit", "none"),
]


def seed(store: Store, cases: int, sellers: int, batch: int = 20_000) -> float:
    """Cases opened over the last year; 60 % resolved within hours to weeks, the rest open."""
    rng = random.Random(7)
    started = time.perf_counter()
    with store.engine.begin() as connection:
        rows = []
        for n in range(cases):
            opened = NOW - timedelta(seconds=rng.randrange(365 * 86400))
            closed = rng.random() < 0.6 and opened + timedelta(hours=rng.expovariate(1 / 60)) < NOW
            status, awaiting = ("closed", "none") if closed else rng.choice(OPEN)
            rows.append(
                dict(
                    case_id=f"case-{n:07d}",
                    version=3,
                    kind="refund_request",
                    policy="direct_service",
                    policy_version="1",
                    reason=rng.choice(REASONS),
                    status=status,
                    outcome="refunded_full" if closed else None,
                    awaiting=awaiting,
                    due_at=None if closed else opened + timedelta(hours=rng.choice((72, 168, 48))),
                    order_id=f"ord-{n:07d}",
                    seller_id=f"seller-{rng.randrange(sellers):05d}",
                    buyer_id=f"buyer-{rng.randrange(cases):07d}",
                    currency="EUR",
                    total_paid=4500,
                    refunded=4500 if closed else 0,
                    charged_to_seller=4500 if closed else 0,
                    opened_at=opened,
                    closed_at=opened + timedelta(hours=rng.expovariate(1 / 60)) if closed else None,
                )
            )
            if len(rows) == batch:
                connection.execute(insert(CaseRow), rows)
                rows = []
        if rows:
            connection.execute(insert(CaseRow), rows)
        days = [(NOW - timedelta(days=d)).date() for d in range(31)]
        volumes = [dict(seller_id=f"seller-{s:05d}", day=day, orders=rng.randrange(5, 60)) for s in range(sellers) for day in days]
        for start in range(0, len(volumes), batch):
            connection.execute(insert(OrderVolumeRow), volumes[start : start + batch])
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    else:
        with store.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50_ms": round(pick(0.50) * 1000, 3), "p99_ms": round(pick(0.99) * 1000, 3)}


def measure(store: Store, sellers: int, queries_count: int = 1000) -> dict:
    rng = random.Random(11)
    first, deep = [], []
    for _ in range(queries_count):
        seller = f"seller-{rng.randrange(sellers):05d}"
        started = time.perf_counter()
        page = queries.seller_queue(store, seller, limit=10)
        first.append(time.perf_counter() - started)
        if page.next_after is not None:
            started = time.perf_counter()
            queries.seller_queue(store, seller, after=page.next_after, limit=10)
            deep.append(time.perf_counter() - started)
    reports = []
    for _ in range(5):
        started = time.perf_counter()
        shown = queries.report(store, NOW - timedelta(days=30), NOW, NOW)
        reports.append(time.perf_counter() - started)
    return {
        "listing_first_page": _percentiles(first),
        "listing_next_page": _percentiles(deep) | {"queries": len(deep)},
        "kpi_report_s": {"median": round(statistics.median(reports), 3), "runs": [round(r, 3) for r in reports]},
        "kpi_report_cases": shown.opened,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--sellers", type=int, default=10_000)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    results = {"cases": args.cases, "sellers": args.sellers, "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}
    with ExitStack() as stack:
        for database in args.databases:
            if database == "sqlite":
                url = f"sqlite:///{stack.enter_context(tempfile.TemporaryDirectory())}/bench.db"
            else:
                url = stack.enter_context(ThrowawayPostgres()).url
            store = Store(url)
            store.migrate()
            seconds = seed(store, args.cases, args.sellers)
            results[database] = {"seed_s": round(seconds, 1)} | measure(store, args.sellers)
            store.engine.dispose()
            print(database, json.dumps(results[database]), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
