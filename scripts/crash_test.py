"""The full crash test: an initial import killed with SIGKILL at least 30 times, then checked.

Usage (from the repository root, with the test dependencies installed)::

    python scripts/crash_test.py [--organisations 1000] [--customers 300] [--deliveries 300]
                                 [--fortnox-documents N] [--kills 30] [--max-delay 10]
                                 [--at-create-share 0.3] [--no-rate-limit] [--seed 1]
                                 [--keep FOLDER]

Starts both emulators as processes and makes the initial data through their APIs: the
organisations in webCRM (a fifth of them prospects, which must not sync), the customers and a
few articles in Fortnox, the deliveries with quotation lines in webCRM under organisations that
sync (and one in twenty more under prospects, which must stay in webCRM), and orders and
invoices with rows in Fortnox (``--fortnox-documents``, default a fifth of ``--deliveries``), so
documents flow both ways. Then it runs ``webcrm-fortnox sync --once`` as a process, killing it
at random moments and starting it again (people edit customers and documents between runs),
until it has been killed ``--kills`` times; then lets it finish. A share of the kills
(``--at-create-share``) lands at once after a create reached a system (a Fortnox order, a
webCRM delivery, a Fortnox customer, a webCRM organisation, in turn), in the moment between a
record being made and the sync recording it; the rest come 0.2 to ``--max-delay`` seconds after
a start or after the run's first write. It prints its figures and exits 0 only when there is
no duplicate in either system (customers by name and key, documents by idempotency key), every
eligible record and delivery is linked exactly once, both sides are equal on every synced field
and on the lines, every edit is present, nothing is left pending, and one more run writes
nothing.

By default the sync keeps the vendors' real limits (Fortnox's 25 requests per 5 seconds,
webCRM's 250 a minute), as it does in production, so the full run takes about an hour for the
defaults (51 minutes measured). ``--no-rate-limit`` runs the same command with clients that
keep no limit (the emulators never enforce one here), which takes about ten minutes: the same
code paths without the waits, so the kills land in a faster sync. The CI form is
``tests/reliability/test_crash.py``.
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
    parser.add_argument("--deliveries", type=int, default=300)
    parser.add_argument(
        "--fortnox-documents",
        type=int,
        default=None,
        help="orders and invoices made in Fortnox (default: a fifth of --deliveries)",
    )
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--max-delay", type=float, default=10.0)
    parser.add_argument("--mid-write-share", type=float, default=0.5)
    parser.add_argument("--at-create-share", type=float, default=0.3)
    parser.add_argument(
        "--no-rate-limit",
        action="store_true",
        help="the sync's clients keep no rate limit (minutes instead of hours)",
    )
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
            deliveries=args.deliveries,
            fortnox_documents=args.fortnox_documents,
            kills=args.kills,
            max_delay=args.max_delay,
            mid_write_share=args.mid_write_share,
            at_create_share=args.at_create_share,
            seed=args.seed,
            run_timeout=3 * 3600.0,
            rate_limits=not args.no_rate_limit,
        )
    print(figures.report())
    return 1 if figures.problems else 0


if __name__ == "__main__":
    sys.exit(main())
