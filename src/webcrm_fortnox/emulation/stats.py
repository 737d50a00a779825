"""Request statistics: how many calls, by tenant, method, route template and status."""

from __future__ import annotations

from collections import Counter
from typing import Any


class RequestStats:
    """Counts requests so tests and benchmarks can assert exactly which calls a sync made."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, str, int]] = Counter()

    def record(self, tenant: str | None, method: str, route: str, status: int) -> None:
        self._counts[(tenant or "", method, route, status)] += 1

    def reset(self) -> None:
        self._counts.clear()

    def total(
        self,
        *,
        tenant: str | None = None,
        method: str | None = None,
        route: str | None = None,
        status: int | None = None,
    ) -> int:
        """How many requests match every given criterion."""
        return sum(
            n
            for (t, m, r, s), n in self._counts.items()
            if (tenant is None or t == tenant)
            and (method is None or m == method)
            and (route is None or r == route)
            and (status is None or s == status)
        )

    def snapshot(self, tenant: str | None = None) -> dict[str, Any]:
        """A JSON-ready view, as served by ``GET /_emulator/stats``."""
        rows = [
            {"tenant": t, "method": m, "route": r, "status": s, "count": n}
            for (t, m, r, s), n in sorted(self._counts.items())
            if tenant is None or t == tenant
        ]
        return {"total": sum(row["count"] for row in rows), "requests": rows}
