"""What one transition's store write costs the worker: `Store.write_effects` for the opening and the
full refund of N cases on a SQLite file, ms per write, three rounds.

    .venv/bin/python -m bench.store_write [--cases 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import timedelta

from cases.engine import apply, open_case
from cases.messages import SellerResponse
from cases.model import Resolution
from cases.view import view
from store.case_writes import CaseRecord
from store.database import Store
from store.schema import NotificationRow
from tests.factories import SELLER, T0, request


def _notice(case_id: str, number: int) -> NotificationRow:
    return NotificationRow(
        key=f"{case_id}:notice:{number}", case_id=case_id, party="seller", recipient_id=SELLER.id, event="opened", body="A case.", created_at=T0
    )


def one_round(store: Store, cases: int) -> float:
    transitions = []
    for _ in range(cases):
        case_id = f"c-{uuid.uuid4().hex[:12]}"
        opening = open_case(request(case_id=case_id, order_id=f"ord-{case_id}"), T0)
        refund = apply(opening.case, SellerResponse(by=SELLER, resolution=Resolution.FULL_REFUND), T0 + timedelta(hours=1))
        transitions.append((case_id, opening, refund))
    started = time.perf_counter()
    for case_id, opening, refund in transitions:
        opened, refunded = opening.case, refund.case
        store.write_effects(
            [_notice(case_id, 1), _notice(case_id, 2)], CaseRecord(view=view(opened), new_entries=opened.timeline, events=opening.events)
        )
        new_entries = refunded.timeline[len(opened.timeline) :]
        store.write_effects([_notice(case_id, 3)], CaseRecord(view=view(refunded), new_entries=new_entries, events=refund.events))
    return (time.perf_counter() - started) / (2 * cases) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=300)
    arguments = parser.parse_args()
    store = Store(f"sqlite:///{tempfile.mkdtemp(prefix='store-write-')}/cases.db")
    store.migrate()
    one_round(store, 50)  # warm: statement caches, pages
    rounds = [one_round(store, arguments.cases) for _ in range(3)]
    print(f"write_effects: {statistics.median(rounds):.2f} ms per transition (median of {', '.join(f'{r:.2f}' for r in rounds)})")


if __name__ == "__main__":
    main()
