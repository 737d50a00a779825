"""``webcrm-fortnox`` whose clients keep no rate limit, for emulators that enforce none.

The product's own command line, with the connector the demo uses without rate limits: the crash
test's ``--no-rate-limit`` form runs the sync as ``python -m tests.reliability.unlimited_cli sync
--once --config FILE`` so a full run takes minutes rather than hours.
"""

from __future__ import annotations

import sys

import typer

from webcrm_fortnox.cli import CliContext, app
from webcrm_fortnox.service import Connector

#: (requests, seconds) each client allows itself: far beyond anything a run sends.
UNLIMITED = (1_000_000, 1.0)


def main() -> None:
    connector = Connector(fortnox_rate=UNLIMITED, webcrm_rate=UNLIMITED)
    command = typer.main.get_command(app)
    command.main(args=sys.argv[1:], prog_name="webcrm-fortnox", obj=CliContext(connector))


if __name__ == "__main__":
    main()
