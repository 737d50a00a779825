"""``webcrm-fortnox copy-state``: the whole state store copied into another, e.g. PostgreSQL.

Moving from SQLite + ``run`` to PostgreSQL is: stop ``run``, copy the store, point ``[state]
url`` at the copy, start again. Links, bases, cursors, intents, errors, conflicts, runs, the
encrypted tokens and the tenant registry all move, so nothing is matched, imported or connected
again.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import make_url

from webcrm_fortnox.service.tenants import StateStoreError, open_state, shown_url
from webcrm_fortnox.store.copy import TargetNotEmptyError, copy_store


def check_source(source: str) -> None:
    """Refuse a SQLite source that does not exist (opening it would create an empty one).

    Raises:
        StateStoreError: there is no such file.
    """
    parsed = make_url(source)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        raise StateStoreError(f"there is no state store at {shown_url(source)} to copy")


async def copy_state(console: Console, source: str, target: str) -> int:
    """Copy the store at ``source`` into the empty store at ``target``.

    Raises:
        StateStoreError: either store cannot be opened, or the target is not empty.
    """
    async with open_state(source) as reading, open_state(target) as writing:
        try:
            copied = await copy_store(reading, writing)
        except TargetNotEmptyError as error:
            raise StateStoreError(
                f"{shown_url(target)} is not empty (table {error.table} has rows): copy into a "
                "new database or schema; nothing was written"
            ) from None
    table = Table("table", "rows")
    for name, rows in copied.items():
        table.add_row(name, str(rows))
    console.print(table)
    console.print(
        Text(
            f"copied {sum(copied.values())} rows into {shown_url(target)}: set [state] url to it "
            "and start `webcrm-fortnox run` again"
        )
    )
    return 0
