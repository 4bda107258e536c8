"""What evidence costs: uploading a file to the evidence store (type read from its bytes, sealed with
AES-256-GCM, written to a folder) and reading it back, by size, median of five runs each; and what a
case's history holds for one file (its reference), beside the bytes of the file.

    .venv/bin/python -m bench.evidence
"""

from __future__ import annotations

import base64
import json
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from cases.evidence import Attachment, EvidenceKind, recorded
from codec.encryption import Keyring
from store.database import Store
from store.evidence import EvidenceFiles, FolderBlobs
from tests.factories import BUYER, jpeg

SIZES = [100_000, 1_000_000, 10_000_000, 20_000_000]
RUNS = 5
HISTORY = Path(__file__).parents[1] / "tests" / "histories" / "generation-2" / "items_and_evidence_on_both_sides.json"


def main() -> None:
    keys = Keyring.parse(f"k1={base64.b64encode(secrets.token_bytes(32)).decode()}")
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{folder}/cases.db")
        store.migrate()
        files = EvidenceFiles(FolderBlobs(Path(folder) / "evidence"), keys, store, max(SIZES))
        print(f"{'size':>12} {'upload ms':>10} {'MB/s':>7} {'download ms':>12} {'MB/s':>7}")
        for size in SIZES:
            uploads, downloads = [], []
            for _ in range(RUNS):
                content = jpeg(size)
                started = time.perf_counter()
                stored = files.upload(content, "bench", datetime.now(UTC))
                uploads.append(time.perf_counter() - started)
                started = time.perf_counter()
                assert files.read(stored.digest) == (content, "image/jpeg")
                downloads.append(time.perf_counter() - started)
            up, down = statistics.median(uploads), statistics.median(downloads)
            print(f"{size:>12,} {up * 1000:>10.1f} {size / up / 1e6:>7.0f} {down * 1000:>12.1f} {size / down / 1e6:>7.0f}")
        store.engine.dispose()
    reference = Attachment(digest="0" * 64, kind=EvidenceKind.PHOTO, caption="as it arrived", media_type="image/jpeg", size=20_000_000)
    (on_case,) = recorded([reference], BUYER, datetime.now(UTC), "seller_response")
    print(
        f"a reference in a message: {len(reference.model_dump_json())} bytes; on the case: {len(on_case.model_dump_json())} bytes, whatever the file's size"
    )
    if HISTORY.exists():
        events = json.loads(HISTORY.read_text())["events"]
        print(f"recorded history with 3 files (items_and_evidence_on_both_sides): {len(HISTORY.read_bytes()):,} bytes, {len(events)} events")


if __name__ == "__main__":
    main()
