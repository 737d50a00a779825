"""The full crash test: an initial import killed with SIGKILL at least 30 times, then checked.

Usage (from the repository root, with the test dependencies installed)::

    python scripts/crash_test.py [--organisations 1000] [--customers 300] [--kills 30]
                                 [--max-delay 10] [--seed 1] [--keep FOLDER]

Starts both emulators as processes, creates the organisations in webCRM (a fifth of them
prospects, which must not sync) and the customers in Fortnox, then runs
``webcrm-fortnox sync --once`` as a process, killing it at random moments and starting it again
(people edit records between runs), until it has been killed ``--kills`` times; then lets it
finish. It prints its figures and exits 0 only when there is no duplicate in either system,
every eligible record is linked exactly once, both sides are equal on every synced field, every
edit is present, nothing is left pending, and one more run writes nothing.

The sync keeps under Fortnox's real limit of 25 requests per 5 seconds, so the full run takes
a while (about an hour for the defaults); the CI form is ``tests/reliability/test_crash.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.reliability.crash import crash_run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--organisations", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--max-delay", type=float, default=10.0)
    parser.add_argument("--mid-write-share", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="keep the state store and logs in FOLDER")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crash-test-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        figures = crash_run(
            folder,
            organisations=args.organisations,
            customers=args.customers,
            kills=args.kills,
            max_delay=args.max_delay,
            mid_write_share=args.mid_write_share,
            seed=args.seed,
            run_timeout=3600.0,
        )
    print(figures.report())
    return 1 if figures.problems else 0


if __name__ == "__main__":
    sys.exit(main())
