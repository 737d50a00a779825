"""Benchmark 6: many small tenants on ``worker`` processes over PostgreSQL (``--only scale``).

Setup: both emulators run as processes at the vendors' real rate limits, with ``tenants``
companies in Fortnox (one integration) and as many webCRM systems, each with a few records
(``organisations`` and ``deliveries`` in webCRM, ``customers`` and ``articles`` in Fortnox).
The state store is a PostgreSQL database of the bench's own, made for the run and dropped after
it (on the server of ``$WEBCRM_FORTNOX_BENCH_POSTGRES_URL``, else
``$WEBCRM_FORTNOX_TEST_POSTGRES_URL``; without either the benchmark is skipped). Two
``webcrm-fortnox worker`` processes and one ``webcrm-fortnox feed`` process run every tenant
with a cycle every ``interval`` seconds. Once every tenant has imported (its first cycle
completed), the bench watches ``window`` seconds and reports:

- **capacity**: tenant-cycles completed per CPU-second the workers spent (the target, 10, is
  3,600 tenants per core at six-minute cycles);
- **lateness**: per scheduled cycle, its start minus its due time (the previous cycle's end
  plus the interval), p95;
- **never two at once**: pairs of one tenant's cycles that overlapped, from the cycle rows;
- **429s** answered by either emulator in the window;
- **propagation under load**: on ``edits`` tenants, a person changes a linked customer's phone
  in Fortnox and another's in webCRM at random moments of the window, while the others cycle;
  each is timed until the other side holds it (read every half second);
- CPU and memory of each process kind (workers, feed, emulators, the PostgreSQL backends
  serving the bench's database) and PostgreSQL transactions per tenant-cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.emulators import EmulatorControl, emulator_process
from bench.figures import Figure, ScenarioResult
from bench.latency import FORTNOX_SECRET, tenant_table
from webcrm_fortnox.config import TenantConfig, load_config
from webcrm_fortnox.fortnox.models import Customer
from webcrm_fortnox.service import Connector
from webcrm_fortnox.service.http_server import free_port
from webcrm_fortnox.store import StateDatabase

BENCH_ENV = "WEBCRM_FORTNOX_BENCH_POSTGRES_URL"
TEST_ENV = "WEBCRM_FORTNOX_TEST_POSTGRES_URL"
#: Targets (issue: scale-out).
CAPACITY_TARGET = 10.0
LATENESS_TARGET = 10.0
FORTNOX_TO_WEBCRM_TARGET = 5.0
#: The tenants' webCRM poll, and the webCRM → Fortnox target: the poll plus 5 s.
POLL_SECONDS = 15
WEBCRM_TO_FORTNOX_TARGET = POLL_SECONDS + 5.0
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class ScaleSizes:
    """How many tenants, how big, how fast they cycle, and how long they are watched.

    Attributes:
        tenants: tenants of the one integration.
        organisations: webCRM organisations of each.
        deliveries: webCRM deliveries of each.
        customers: Fortnox customers of each.
        articles: Fortnox articles of each.
        interval: each tenant's ``sync_interval_seconds``.
        window: seconds watched once every tenant imported.
        concurrency: syncs each worker runs at once.
        patience: the longest wait for every tenant's import.
        edits: tenants edited on each side during the window.
    """

    tenants: int
    organisations: int
    deliveries: int
    customers: int
    articles: int
    interval: int
    window: float
    concurrency: int
    patience: float
    edits: int


def _server_url() -> str | None:
    return os.environ.get(BENCH_ENV) or os.environ.get(TEST_ENV)


@contextlib.contextmanager
def _database(server: str) -> Iterator[str]:
    """A database of the bench's own on ``server`` (dropped after), as a state-store URL."""
    name = f"wfbench_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()


def _cpu_and_rss(pid: int) -> tuple[float, float] | None:
    """CPU seconds a process has used and its resident memory in MB (``None``: gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        statm = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:
        return None
    return (int(stat[11]) + int(stat[12])) / _TICKS, int(statm[1]) * _PAGE / 1e6


def _children(pid: int) -> list[int]:
    """``pid`` and the processes it started (uvicorn, a worker's threads are one process)."""
    found = [pid]
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            children = (task / "children").read_text().split()
            found += [p for c in children for p in _children(int(c))]
    return found


class Usage:
    """CPU and memory of the processes of each kind, between two samples."""

    def __init__(self) -> None:
        self.first: dict[str, dict[int, tuple[float, float]]] = {}
        self.last: dict[str, dict[int, tuple[float, float]]] = {}

    @staticmethod
    def sample(kinds: dict[str, Sequence[int]]) -> dict[str, dict[int, tuple[float, float]]]:
        taken: dict[str, dict[int, tuple[float, float]]] = {}
        for kind, pids in kinds.items():
            taken[kind] = {}
            for pid in pids:
                usage = _cpu_and_rss(pid)
                if usage is not None:
                    taken[kind][pid] = usage
        return taken

    def per_kind(self, seconds: float) -> dict[str, dict[str, float]]:
        """By kind: cores used (CPU seconds per second) and peak resident MB of one process."""
        result = {}
        for kind, last in self.last.items():
            first = self.first.get(kind, {})
            cpu = sum(last[p][0] - first[p][0] for p in last if p in first)
            rss = max((usage[1] for usage in last.values()), default=0.0)
            result[kind] = {
                "cores": round(cpu / seconds, 3),
                "cpu_seconds": round(cpu, 2),
                "rss_mb": round(rss, 1),
            }
        return result


def _process(command: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FORTNOX_CLIENT_SECRET": FORTNOX_SECRET}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "webcrm_fortnox", *command],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


async def _arrange(
    fortnox: EmulatorControl, webcrm: EmulatorControl, sizes: ScaleSizes
) -> list[tuple[int, str]]:
    """Companies and systems for every tenant: (Fortnox TenantId, webCRM token) of each."""
    pairs: list[tuple[int, str]] = []
    for index in range(sizes.tenants):
        company = index + 1
        if company > 1:  # the emulator's default company is 1, its default system the first
            await fortnox.add_tenant(tenant_id=company, seed="empty")
        token = str(
            (await webcrm.add_tenant(api_token=str(uuid.uuid4()), seed="empty"))["api_token"]
        )
        await fortnox.seed(
            str(company), customers=sizes.customers, articles=sizes.articles, orders=0, invoices=0
        )
        await webcrm.seed(
            token, "demo", organisations=sizes.organisations, deliveries=sizes.deliveries
        )
        pairs.append((company, token))
    return pairs


async def _cycles(db: StateDatabase) -> list[sa.Row[Any]]:
    query = sa.text(
        "SELECT tenant, trigger, status, started_at, finished_at FROM cycles ORDER BY started_at"
    )
    async with db.engine.connect() as conn:
        return list(await conn.execute(query))


async def _imported(db: StateDatabase) -> int:
    query = sa.text("SELECT count(DISTINCT tenant) FROM cycles WHERE status = 'completed'")
    async with db.engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def _transactions(db: StateDatabase) -> tuple[int, list[int]]:
    """The bench database's committed transactions so far, and its backends' process ids."""
    async with db.engine.connect() as conn:
        commits = await conn.execute(
            sa.text("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        )
        backends = await conn.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        )
        return int(commits.scalar_one()), [int(row[0]) for row in backends]


def _measure(rows: list[sa.Row[Any]], interval: int, start: Any, end: Any) -> dict[str, Any]:
    """Cycles completed in the window, lateness of scheduled ones, and overlaps."""
    by_tenant: dict[str, list[sa.Row[Any]]] = {}
    for row in rows:
        by_tenant.setdefault(row.tenant, []).append(row)
    completed = [r for r in rows if r.status == "completed" and start <= r.finished_at <= end]
    lateness: list[float] = []
    overlaps = 0
    for cycles in by_tenant.values():
        ended = [c for c in cycles if c.finished_at is not None]
        for before, after in itertools.pairwise(ended):
            if after.started_at < before.finished_at:
                overlaps += 1
            if after.trigger == "cycle" and start <= after.started_at <= end:
                due = before.finished_at.timestamp() + interval
                lateness.append(max(0.0, after.started_at.timestamp() - due))
    return {"completed": len(completed), "lateness": lateness, "overlaps": overlaps}


def _propagation_figures(delays: dict[str, list[float | None]], patience: float) -> list[Figure]:
    figures = []
    for side, name, target in (
        ("fortnox", "propagation Fortnox → webCRM p95", FORTNOX_TO_WEBCRM_TARGET),
        ("webcrm", "propagation webCRM → Fortnox p95", WEBCRM_TO_FORTNOX_TARGET),
    ):
        measured = delays.get(side, [])
        arrived = [d for d in measured if d is not None]
        missing = len(measured) - len(arrived)
        # An edit that never arrived counts as arriving when the bench stopped waiting.
        value = _p95(arrived + [patience] * missing) if measured else 0.0
        note = f"{len(arrived)} of {len(measured)} edits arrived, while the others cycle"
        figures.append(Figure("scale", name, round(value, 2), "s", target, "max", note))
    return figures


def _p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


async def run_scale(workdir: Path, sizes: ScaleSizes) -> ScenarioResult:
    """Run the workers and the feed over the tenants; measure a window after the import."""
    server = _server_url()
    if server is None:
        note = f"skipped: set {BENCH_ENV} to a PostgreSQL server the bench may create a database on"
        return ScenarioResult(
            figures=[Figure("scale", "tenant-cycles per worker CPU-second", 0, "", note=note)],
            details={"skipped": True},
        )
    folder = workdir / "scale"
    folder.mkdir(parents=True, exist_ok=True)
    details: dict[str, Any] = {"sizes": sizes.__dict__}
    with (
        _database(server) as url,
        emulator_process("fortnox", rate_limit=True, log=folder / "fortnox.log") as f_url,
        emulator_process("webcrm", rate_limit=True, log=folder / "webcrm.log") as w_url,
    ):
        fortnox, webcrm = EmulatorControl(f_url), EmulatorControl(w_url)
        processes: dict[str, list[subprocess.Popen[bytes]]] = {}
        try:
            pairs = await _arrange(fortnox, webcrm, sizes)
            config = folder / "webcrm-fortnox.toml"
            body = "".join(
                tenant_table(
                    f"tenant-{i:04d}",
                    f_url,
                    w_url,
                    api_token=token,
                    company=company,
                    cycle_seconds=sizes.interval,
                    poll_seconds=POLL_SECONDS,
                )
                for i, (company, token) in enumerate(pairs)
            )
            config.write_text(f'[state]\nurl = "{url}"\n{body}')
            async with await StateDatabase.open(url) as db:
                worker = ["worker", "--config", str(config), "--concurrency"]
                worker.append(str(sizes.concurrency))
                processes["worker"] = [
                    _process([*worker, "--metrics-port", str(free_port())], folder / f"w{n}.log")
                    for n in range(2)
                ]
                feed = ["feed", "--config", str(config), "--metrics-port", str(free_port())]
                processes["feed"] = [_process(feed, folder / "feed.log")]
                started = time.monotonic()
                while await _imported(db) < sizes.tenants:
                    if time.monotonic() - started > sizes.patience:
                        break
                    await asyncio.sleep(1.0)
                details["imported"] = await _imported(db)
                details["import_seconds"] = round(time.monotonic() - started, 1)
                tenants = _tenants(config)[: sizes.edits]
                details.update(await _window(db, processes, fortnox, webcrm, sizes, tenants))
        finally:
            for process in itertools.chain.from_iterable(processes.values()):
                process.terminate()
            for process in itertools.chain.from_iterable(processes.values()):
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    process.kill()
            await fortnox.close()
            await webcrm.close()
    return _result(sizes, details)


def _emulator_pids() -> list[int]:
    """The emulator processes this bench started (children of this process)."""
    own = os.getpid()
    found = []
    for path in Path("/proc").iterdir():
        if path.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (path / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (path / "cmdline").read_bytes()
                if int(stat[1]) == own and b"emulate" in cmdline:
                    found.append(int(path.name))
    return found


async def _window(
    db: StateDatabase,
    processes: dict[str, list[subprocess.Popen[bytes]]],
    fortnox: EmulatorControl,
    webcrm: EmulatorControl,
    sizes: ScaleSizes,
    edited: Sequence[TenantConfig],
) -> dict[str, Any]:
    await fortnox.reset_stats()
    await webcrm.reset_stats()
    usage = Usage()
    commits_before, backends = await _transactions(db)
    kinds = {
        "worker": [p for w in processes["worker"] for p in _children(w.pid)],
        "feed": [p for f in processes["feed"] for p in _children(f.pid)],
        "emulators": _emulator_pids(),
        "postgresql": backends,
    }
    usage.first = usage.sample(kinds)
    start = db.clock()
    began = time.monotonic()
    rng = random.Random(15)
    edits = [
        _propagate(db, tenant, side, rng.uniform(0, sizes.window * 0.6), sizes.window)
        for tenant in edited
        for side in ("fortnox", "webcrm")
    ]
    delays = await asyncio.gather(asyncio.sleep(sizes.window), *edits)
    seconds = time.monotonic() - began
    end = db.clock()
    commits_after, backends = await _transactions(db)
    kinds["postgresql"] = backends
    usage.last = usage.sample(kinds)
    measured = _measure(await _cycles(db), sizes.interval, start, end)
    calls = {"fortnox": await fortnox.calls(), "webcrm": await webcrm.calls()}
    sides = ("fortnox", "webcrm") * len(edited)
    return {
        "propagation": {
            side: [d for s, d in zip(sides, delays[1:], strict=True) if s == side]
            for side in ("fortnox", "webcrm")
        },
        "window_seconds": round(seconds, 1),
        "cycles_completed": measured["completed"],
        "lateness": measured["lateness"],
        "overlaps": measured["overlaps"],
        "usage": usage.per_kind(seconds),
        "transactions": commits_after - commits_before,
        "rate_limited": {system: c.rate_limited for system, c in calls.items()},
        "calls": {system: c.total for system, c in calls.items()},
    }


def _tenants(config: Path) -> list[TenantConfig]:
    os.environ.setdefault("FORTNOX_CLIENT_SECRET", FORTNOX_SECRET)
    return list(load_config(config).tenant)


async def _propagate(
    db: StateDatabase, tenant: TenantConfig, side: str, at: float, window: float
) -> float | None:
    """A person's edit on ``side`` after ``at`` seconds; seconds until the other side holds it
    (``None``: not within the window and half a minute)."""
    query = sa.text(
        "SELECT webcrm_id, fortnox_id FROM links WHERE tenant = :tenant AND entity = 'customer'"
        " ORDER BY id LIMIT 2"
    )
    async with db.engine.connect() as conn:
        links = list(await conn.execute(query, {"tenant": tenant.name}))
    if not links:
        return None
    webcrm_id, fortnox_id = links[0] if side == "fortnox" else links[-1]
    value = f"08-{700 + (side == 'webcrm')} {random.randrange(10_000):04d}"
    await asyncio.sleep(at)
    async with Connector().clients(tenant) as clients:
        if side == "fortnox":
            await clients.fortnox.customers.update(fortnox_id, Customer(phone1=value))
        else:
            await clients.webcrm.transport.request(
                "PUT", f"Organisations/{webcrm_id}", json={"OrganisationTelephone": value}
            )
        edited = time.monotonic()
        deadline = edited + window + 30.0
        while time.monotonic() < deadline:
            if side == "fortnox":
                now = (await clients.webcrm.get_organisation(int(webcrm_id))).telephone
            else:
                now = (await clients.fortnox.customers.get(fortnox_id)).phone1
            if now == value:
                return round(time.monotonic() - edited, 2)
            await asyncio.sleep(0.5)
    return None


def _result(sizes: ScaleSizes, details: dict[str, Any]) -> ScenarioResult:
    usage = details.get("usage", {})
    worker_cpu = usage.get("worker", {}).get("cpu_seconds", 0.0)
    completed = details.get("cycles_completed", 0)
    lateness = details.get("lateness", [])
    note = (
        f"{sizes.tenants} tenants ({details.get('imported', 0)} imported), two workers ×"
        f"{sizes.concurrency} and a feed, {sizes.interval} s cycles, "
        f"{details.get('window_seconds', 0)} s watched"
    )
    figures = [
        Figure(
            "scale",
            "tenant-cycles per worker CPU-second",
            round(completed / worker_cpu, 1) if worker_cpu else 0.0,
            "cycles",
            CAPACITY_TARGET,
            "min",
            f"{completed} cycles completed; {note}",
        ),
        Figure(
            "scale",
            "lateness p95",
            round(_p95(lateness), 2),
            "s",
            LATENESS_TARGET,
            "max",
            f"{len(lateness)} scheduled cycles: start minus (previous end + interval)",
        ),
        Figure(
            "scale",
            "syncs of one tenant at once",
            details.get("overlaps", 0),
            "pairs",
            0,
            "max",
            "overlapping cycle rows of one tenant",
        ),
        Figure(
            "scale",
            "429 answers",
            sum(details.get("rate_limited", {}).values()),
            "answers",
            0,
            "max",
            "both emulators, in the window",
        ),
        *_propagation_figures(details.get("propagation", {}), sizes.window + 30.0),
        Figure(
            "scale",
            "PostgreSQL transactions per tenant-cycle",
            round(details.get("transactions", 0) / completed, 1) if completed else 0.0,
            "transactions",
            note="the bench database's commits in the window (jobs, dispatch, state)",
        ),
    ]
    for kind, figures_of in usage.items():
        figures.append(
            Figure(
                "scale",
                f"{kind}: cores, peak MB",
                figures_of["cores"],
                "cores",
                note=f"{figures_of['rss_mb']} MB resident at most per process",
            )
        )
    return ScenarioResult(figures=figures, samples={"scale lateness": lateness}, details=details)
