"""Prometheus metrics of one service instance, in a registry of its own.

No collector touches prometheus-client's global default registry: many services (or tests) in
one process each count their own. Labels are the tenant and, where it applies, the API system
(``webcrm``/``fortnox``) or the entity; sums over tenants are the system-wide figures.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: The lag buckets: from a second (a feed event) to the six-minute cycle and beyond.
LAG_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 360, 900, 3600)

CALL_FIELDS = {"calls": "api_calls", "rate_limited": "rate_limited", "retries": "retries"}


class ServiceMetrics:
    """The counters the running service keeps, and their text form for ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.api_calls = Counter(
            "webcrm_fortnox_api_calls", "HTTP requests sent", ["tenant", "system"], registry=r
        )
        self.rate_limited = Counter(
            "webcrm_fortnox_rate_limited",
            "Answers 429 Too Many Requests",
            ["tenant", "system"],
            registry=r,
        )
        self.retries = Counter(
            "webcrm_fortnox_retries", "Requests sent again", ["tenant", "system"], registry=r
        )
        self.records = Counter(
            "webcrm_fortnox_records",
            "Records handled by syncs, by outcome (synced, failed, excluded, conflict, ...)",
            ["tenant", "entity", "status"],
            registry=r,
        )
        self.conflicts = Counter(
            "webcrm_fortnox_conflicts",
            "Fields both sides changed since the last sync",
            ["tenant", "entity"],
            registry=r,
        )
        self.syncs = Counter(
            "webcrm_fortnox_syncs",
            "Tenant syncs, by what started them and how they ended",
            ["tenant", "trigger", "result"],
            registry=r,
        )
        self.lag = Histogram(
            "webcrm_fortnox_propagation_lag_seconds",
            "From a change in one system to its write in the other",
            ["tenant", "direction"],
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            "webcrm_fortnox_last_successful_sync_timestamp_seconds",
            "When the tenant's last sync completed (POSIX seconds)",
            ["tenant"],
            registry=r,
        )
        self.tenant_up = Gauge(
            "webcrm_fortnox_tenant_up",
            "1 when the tenant's last sync completed, 0 while it fails or is paused",
            ["tenant"],
            registry=r,
        )
        self.feed_connected = Gauge(
            "webcrm_fortnox_change_feed_connected",
            "1 while Fortnox's change feed is subscribed",
            ["client_id"],
            registry=r,
        )

    def add_calls(self, tenant: str, system: str, delta: Mapping[str, int]) -> None:
        """Count what a client spent since it was last counted."""
        for field, name in CALL_FIELDS.items():
            amount = delta.get(field, 0)
            if amount > 0:
                counter: Counter = getattr(self, name)
                counter.labels(tenant=tenant, system=system).inc(amount)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
