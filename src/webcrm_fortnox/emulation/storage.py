"""Record storage for the emulators: dictionaries in memory, written through to SQLite on demand.

Each emulator keeps its data as JSON-ready dicts in named tables per tenant. Without a file the
tables live only in memory; with ``--data FILE`` every write also lands in one SQLite table, and the
next start loads it back, so an emulator keeps its state across restarts.

Tables hand out the stored dicts themselves: a vendor must :meth:`Table.put` after changing one,
and should copy before answering so a response never aliases stored state.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

Record = dict[str, Any]


class Table:
    """One named table of one tenant: key → record, in insertion order."""

    def __init__(self, storage: Storage, namespace: str, name: str) -> None:
        self._storage = storage
        self.namespace = namespace
        self.name = name
        self._rows: dict[str, Record] = {}

    def get(self, key: str) -> Record | None:
        return self._rows.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def values(self) -> list[Record]:
        return list(self._rows.values())

    def put(self, key: str, record: Record) -> None:
        self._rows[key] = record
        self._storage._write(self.namespace, self.name, key, record)

    def delete(self, key: str) -> None:
        if self._rows.pop(key, None) is not None:
            self._storage._write(self.namespace, self.name, key, None)

    def clear(self) -> None:
        for key in list(self._rows):
            self.delete(key)


class Storage:
    """All tables of one emulator process.

    Args:
        path: a SQLite file to persist to, or ``None`` for memory only.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self._tables: dict[tuple[str, str], Table] = {}
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        if path is not None:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS rows (namespace TEXT, tbl TEXT, key TEXT, body TEXT,"
                " seq INTEGER PRIMARY KEY AUTOINCREMENT, UNIQUE(namespace, tbl, key))"
            )
            for namespace, name, key, body in self._db.execute(
                "SELECT namespace, tbl, key, body FROM rows ORDER BY seq"
            ):
                self.table(namespace, name)._rows[key] = json.loads(body)

    @property
    def persistent(self) -> bool:
        return self._db is not None

    def table(self, namespace: str, name: str) -> Table:
        """The table ``name`` of ``namespace`` (usually a tenant), created empty when new."""
        table = self._tables.get((namespace, name))
        if table is None:
            table = self._tables[(namespace, name)] = Table(self, namespace, name)
        return table

    def namespaces(self) -> list[str]:
        """Every namespace that holds a table, in first-use order."""
        return list(dict.fromkeys(ns for ns, _ in self._tables))

    def next_number(self, namespace: str, series: str, start: int = 1) -> int:
        """The next number of a persistent counter (document numbers, ids)."""
        counters = self.table(namespace, "_counters")
        row = counters.get(series) or {"next": start}
        value = int(row["next"])
        counters.put(series, {"next": value + 1})
        return value

    def peek_number(self, namespace: str, series: str, start: int = 1) -> int:
        """The number :meth:`next_number` would hand out, without taking it."""
        row = self.table(namespace, "_counters").get(series)
        return int(row["next"]) if row else start

    def drop_namespace(self, namespace: str) -> None:
        for key in [k for k in self._tables if k[0] == namespace]:
            self._tables.pop(key)
        if self._db is not None:
            with self._lock:
                self._db.execute("DELETE FROM rows WHERE namespace = ?", (namespace,))

    def reset(self) -> None:
        """Forget everything (memory and file)."""
        self._tables.clear()
        if self._db is not None:
            with self._lock:
                self._db.execute("DELETE FROM rows")

    def _write(self, namespace: str, name: str, key: str, record: Record | None) -> None:
        if self._db is None:
            return
        with self._lock:
            if record is None:
                self._db.execute(
                    "DELETE FROM rows WHERE namespace = ? AND tbl = ? AND key = ?",
                    (namespace, name, key),
                )
            else:
                self._db.execute(
                    "INSERT INTO rows (namespace, tbl, key, body) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(namespace, tbl, key) DO UPDATE SET body = excluded.body",
                    (namespace, name, key, json.dumps(record, ensure_ascii=False)),
                )

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
