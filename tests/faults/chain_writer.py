"""One appender of the audit chain race: a process that writes history, seals, or both, round after round.

    python -m tests.faults.chain_writer DATABASE_URL ROUNDS write|seal|both

``ROUNDS`` 0 runs until killed. Each round writes one case's history (8 chained rows)
and/or seals what is new; the process prints ``written=N seals=N`` when it ends.
"""

from __future__ import annotations

import sys

from storage import audit_chain
from storage.db import Database
from tests.storage.audit_history import write_history

ROWS_PER_ROUND = 8  # the case, its request, 3 transitions, a request event, 2 case events


def main(database_url: str, rounds: int, role: str) -> None:
    database = Database(database_url, timeout_seconds=10)
    written = seals = done = 0
    while rounds == 0 or done < rounds:
        if role in ("write", "both"):
            write_history(database, requests=1)
            written += ROWS_PER_ROUND
        if role in ("seal", "both"):
            audit_chain.seal(database, batch=5)
            seals += 1
        done += 1
    database.dispose()
    print(f"written={written} seals={seals}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
